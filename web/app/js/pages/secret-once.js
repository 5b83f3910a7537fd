// A secret the server shows once (an SDK key, an API token): the value, a copy button, and the warning that it
// cannot be shown again. It lives only in the page's memory: leaving the page forgets it.

import { h } from '../dom.js';

/**
 * @param {string} label what the secret is, e.g. `Server key "backend"`
 * @param {string} secret
 * @param {() => void} [dismiss] called by the "Done" button
 */
export function secretOnce(label, secret, dismiss) {
  const value = h('input', { class: 'mono secret-value', readonly: true, value: secret, 'aria-label': `${label}: secret` });
  const copied = h('span', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const copy = h('button', {
    type: 'button',
    class: 'button',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copied.textContent = 'Copied.';
      } catch {
        // No clipboard permission (e.g. plain http): select it for the keyboard's copy instead.
        /** @type {HTMLInputElement} */ (value).select();
        copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
      }
    },
  }, 'Copy');
  const box = h('div', { class: 'alert alert-ok secret-once', role: 'region', 'aria-label': 'New secret' },
    h('p', { class: 'secret-title' }, h('strong', null, label), ': copy it now. ',
      h('strong', null, 'It will not be shown again.')),
    h('div', { class: 'secret-row' }, value, copy, copied),
    dismiss ? h('button', { type: 'button', class: 'button subtle', onclick: () => { box.remove(); dismiss(); } }, 'Done') : null);
  value.addEventListener('focus', () => /** @type {HTMLInputElement} */ (value).select());
  return box;
}
