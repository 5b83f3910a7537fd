// An environment's allowed origins: one input per origin, each at its API path (`allowed_origins[2]`), so the
// server's complaint about one origin appears beside it.

import { field, h, replace } from '../dom.js';

/**
 * @param {string[]} initial
 * @param {{readOnly?: boolean}} [opts]
 * @returns {{el: HTMLElement, value: () => string[]}}
 */
export function originsEditor(initial, opts = {}) {
  /** @type {HTMLInputElement[]} */
  let inputs = [];
  let values = [...initial];
  const list = h('div', { class: 'origins' });
  // Empty ones are sent too, so the server's indices are the inputs' indices.
  const read = () => inputs.map((i) => i.value.trim());
  const draw = () => {
    inputs = [];
    replace(list, values.map((origin, i) => {
      const input = /** @type {HTMLInputElement} */ (h('input', { name: `allowed_origins[${i}]`, value: origin, placeholder: 'https://app.example.com', disabled: opts.readOnly }));
      inputs.push(input);
      return h('div', { class: 'origin-row' },
        field(`Allowed origin ${i + 1}`, input, { path: `allowed_origins[${i}]` }),
        opts.readOnly ? null : h('button', {
          type: 'button',
          class: 'button small subtle',
          'aria-label': `Remove allowed origin ${i + 1}`,
          onclick: () => {
            values = inputs.map((x) => x.value);
            values.splice(i, 1);
            draw();
            add.focus();
          },
        }, 'Remove'));
    }));
    if (!values.length) replace(list, h('p', { class: 'hint' }, 'None: no web page may use this environment’s client keys.'));
  };
  const add = h('button', {
    type: 'button',
    class: 'button small',
    onclick: () => {
      values = [...inputs.map((x) => x.value), ''];
      draw();
      inputs[inputs.length - 1]?.focus();
    },
  }, 'Add origin');
  draw();
  const el = h('fieldset', { class: 'origins-editor', dataset: { path: 'allowed_origins' } },
    h('legend', null, 'Allowed origins'),
    h('p', { class: 'hint' }, 'Web pages allowed to call the client-key endpoints: scheme://host[:port], or * alone for any.'),
    h('p', { class: 'field-error', hidden: true }),
    list,
    opts.readOnly ? null : add);
  return { el, value: read };
}
