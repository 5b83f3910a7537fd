// Building the page without innerHTML: every text goes in as text, so nothing a user typed can become markup.

/**
 * Creates an element. `props`: attributes, plus `on<event>` handlers, `class`, `dataset` and `hidden`.
 * Children: nodes, strings (as text), arrays of those, or null/false (skipped).
 * @param {string} tag
 * @param {Record<string, any> | null} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'value' || name === 'checked' || name === 'selected') {
      /** @type {any} */ (el)[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/**
 * Appends children as `h` takes them.
 * @param {Node} el
 * @param {any[]} children
 */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces an element's children.
 * @param {Node} el
 * @param {...any} children
 */
export function replace(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

let nextId = 0;
/** A fresh element id, for label/control pairs. @param {string} prefix */
export function uid(prefix = 'f') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * A labelled form control: `<div class="field"><label for=id>label</label>control<p class="field-error"></p></div>`.
 * `path` (the API's field path, e.g. `rules[0].conditions[1].values`) lets API errors land at the control.
 * @param {string} label
 * @param {HTMLElement} control
 * @param {{path?: string, hint?: string}} [opts]
 */
export function field(label, control, opts = {}) {
  if (!control.id) control.id = uid();
  const error = h('p', { class: 'field-error', id: `${control.id}-error`, hidden: true });
  const hint = opts.hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, opts.hint) : null;
  control.setAttribute('aria-describedby', [hint?.id, error.id].filter(Boolean).join(' '));
  return h('div', { class: 'field', dataset: opts.path ? { path: opts.path } : undefined },
    h('label', { for: control.id }, label), control, hint, error);
}

/** Formats an RFC 3339 time for people. @param {string} when */
export function time(when) {
  const d = new Date(when);
  return Number.isNaN(d.getTime()) ? when : d.toLocaleString();
}

/**
 * A page part that could not be loaded: the reason and a Retry button, which draws the page again
 * (`pennon:retry`, handled by the app).
 * @param {string} text
 * @param {string} [tag] `p`, or `li` inside a list
 */
export function loadError(text, tag = 'p') {
  return h(tag, { class: 'alert alert-danger load-error', role: 'alert' }, text, ' ',
    h('button', { type: 'button', class: 'button small', onclick: () => document.dispatchEvent(new CustomEvent('pennon:retry')) }, 'Retry'));
}
