// Showing API errors where they belong: a 422's problems at the controls whose `data-path` they name, anything
// else in a banner above the form. A 409 version conflict says who changed the object and offers a reload.

import { api, ApiError, seg } from './api.js';
import { h, replace } from './dom.js';

/** Removes the messages a previous attempt left. @param {HTMLElement} root */
export function clearErrors(root) {
  root.querySelectorAll('.field-error').forEach((el) => {
    el.textContent = '';
    el.setAttribute('hidden', '');
  });
  root.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  root.querySelectorAll(':scope > .form-error, .form-error[data-owned]').forEach((el) => el.remove());
}

/**
 * Puts each problem at the field it names: the element with `data-path` equal to the path, or the longest
 * path that prefixes it (`rules[0].conditions[1]` takes `rules[0].conditions[1].values[2]`). Problems with no
 * field go in a banner at the top of `root`. `prefix` is prepended to the field names of elements in `root`
 * when the API paths carry one the form does not (e.g. `rules[2].`).
 * @param {HTMLElement} root
 * @param {unknown} error
 */
export function showError(root, error) {
  clearErrors(root);
  if (!(error instanceof ApiError)) {
    banner(root, String(error instanceof Error ? error.message : error));
    return;
  }
  const problems = error.problem.errors?.length
    ? error.problem.errors
    : [{ path: error.problem.field ?? '', message: error.problem.detail ?? error.message }];
  /** @type {string[]} */
  const unplaced = [];
  const fields = [...root.querySelectorAll('[data-path]')];
  for (const p of problems) {
    const target = bestField(fields, p.path ?? '');
    if (!target) {
      unplaced.push(p.path ? `${p.path}: ${p.message}` : p.message);
      continue;
    }
    const message = target.querySelector('.field-error');
    if (message) {
      message.textContent = message.textContent ? `${message.textContent} ${p.message}` : p.message;
      message.removeAttribute('hidden');
    }
    target.querySelector('input, select, textarea')?.setAttribute('aria-invalid', 'true');
  }
  if (unplaced.length) banner(root, unplaced.join('; '));
  const first = root.querySelector('[aria-invalid="true"]');
  if (first instanceof HTMLElement) first.focus();
}

/** @param {Element[]} fields @param {string} path */
function bestField(fields, path) {
  if (!path) return null;
  let best = null;
  let bestLength = -1;
  for (const f of fields) {
    const p = /** @type {HTMLElement} */ (f).dataset.path ?? '';
    const prefixes = path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`);
    if (prefixes && p.length > bestLength) {
      best = f;
      bestLength = p.length;
    }
  }
  return best;
}

/** @param {HTMLElement} root @param {string} text @param {any[]} [extra] */
export function banner(root, text, extra = []) {
  const el = h('div', { class: 'form-error alert alert-danger', role: 'alert', dataset: { owned: '1' } }, text, ...extra);
  root.prepend(el);
  return el;
}

/**
 * A version conflict on a flag config: finds who made the current version and offers to reload.
 * @param {HTMLElement} root
 * @param {ApiError} error
 * @param {{flag: string, env: string, reload: () => void}} where
 */
export async function showConflict(root, error, where) {
  clearErrors(root);
  let who = 'someone else';
  try {
    const page = await api.get(`/flags/${seg(where.flag)}/environments/${seg(where.env)}/history`, { limit: 1 });
    const last = page.items?.[0];
    if (last) who = `${last.actor ?? last.changed_by ?? 'someone'} (version ${last.version})`;
  } catch {
    // Fall back to the plain message.
  }
  const reload = h('button', { type: 'button', class: 'button', onclick: where.reload }, 'Reload');
  const el = banner(root, `This changed while you were editing: the current version was made by ${who}. `, [reload]);
  el.classList.add('conflict');
}

/** Whether the error is a stale-version refusal. @param {unknown} e */
export const isConflict = (e) => e instanceof ApiError && (e.status === 409 || e.status === 412) && e.problem.current_version !== undefined && e.problem.current_version !== null;

/**
 * Asks before a change in an environment marked production (a modal dialog; resolves false when cancelled).
 * @param {string} message
 */
export function confirmDialog(message) {
  return new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' }));
    const done = (/** @type {boolean} */ ok) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    replace(dialog,
      h('h2', { id: 'confirm-title' }, 'Please confirm'),
      h('p', null, message),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button subtle', onclick: () => done(false) }, 'Cancel'),
        h('button', { type: 'button', class: 'button danger', 'data-confirm': '1', onclick: () => done(true) }, 'Confirm')));
    dialog.addEventListener('cancel', () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * The confirmation every change in a production environment asks for: true when the environment is not
 * production, or when the person confirms.
 * @param {{name: string, production: boolean} | undefined} environment
 * @param {string} change what will happen, e.g. `Save the default of checkout`
 */
export async function confirmProduction(environment, change) {
  if (!environment?.production) return true;
  return /** @type {Promise<boolean>} */ (confirmDialog(`${change} in ${environment.name}, a production environment?`));
}
