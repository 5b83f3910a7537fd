// Unsaved input kept across a new sign-in: when the session ends, what the open page's fields hold is kept
// (in this tab's sessionStorage, passwords never), and put back when the same page opens after sign-in.

const KEY = 'pennon.draft';

/** The controls of the view that hold input, each with a key that finds it again on a fresh page. @param {HTMLElement} view */
function controls(view) {
  /** @type {Map<string, number>} */
  const seen = new Map();
  /** @type {[string, HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement][]} */
  const out = [];
  view.querySelectorAll('input, select, textarea').forEach((node) => {
    const el = /** @type {HTMLInputElement} */ (node);
    if (['password', 'hidden', 'button', 'submit', 'file'].includes(el.type)) return;
    const name = el.name || el.getAttribute('aria-label') || el.labels?.[0]?.textContent?.trim();
    if (!name) return;
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    out.push([`${name}#${n}`, el]);
  });
  return out;
}

/** Keeps what the view's fields hold, with the page it belongs to. @param {HTMLElement} view */
export function keepDraft(view) {
  const fields = controls(view).map(([key, el]) => {
    const check = el instanceof HTMLInputElement && (el.type === 'checkbox' || el.type === 'radio');
    return { key, value: check ? String(/** @type {HTMLInputElement} */ (el).checked) : el.value, check };
  });
  if (fields.length) sessionStorage.setItem(KEY, JSON.stringify({ hash: location.hash, fields }));
}

/**
 * Puts a kept draft back into the view when it shows the same page; returns whether anything came back.
 * Each field changed gets `input` and `change` events, so the page knows it is being edited.
 * @param {HTMLElement} view
 */
export function restoreDraft(view) {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return false;
  sessionStorage.removeItem(KEY);
  let draft;
  try {
    draft = JSON.parse(raw);
  } catch {
    return false;
  }
  if (draft.hash !== location.hash) return false;
  const kept = new Map(draft.fields.map((/** @type {any} */ f) => [f.key, f]));
  let restored = false;
  for (const [key, el] of controls(view)) {
    const f = /** @type {any} */ (kept.get(key));
    if (!f) continue;
    if (f.check) {
      const on = f.value === 'true';
      if (/** @type {HTMLInputElement} */ (el).checked === on) continue;
      /** @type {HTMLInputElement} */ (el).checked = on;
    } else {
      if (el.value === f.value) continue;
      el.value = f.value;
    }
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    restored = true;
  }
  return restored;
}
