// The variants of a flag as rows — key, name and a value input that fits the kind (text, number, or JSON
// checked as it is typed) — used when creating a flag and when editing its definition. A boolean flag's
// variants are always on/off, so it gets none.

import { ApiError } from '../api.js';
import { h, replace, uid } from '../dom.js';

/**
 * @param {string} kind 'string' | 'number' | 'json'
 * @param {{key: string, name?: string | null, value: any}[]} initial
 * @returns {{el: HTMLElement, value: () => any[], setKind: (kind: string) => void}}
 */
export function variantsEditor(kind, initial) {
  /** @type {{key: string, name: string, value: string}[]} */
  let rows = initial.map((v) => ({ key: v.key, name: v.name ?? '', value: valueText(kind, v.value) }));
  if (!rows.length) rows = [{ key: '', name: '', value: '' }, { key: '', name: '', value: '' }];
  const list = h('div', { class: 'variant-rows' });
  const el = h('fieldset', { class: 'field group variants-edit', dataset: { path: 'variants' } },
    h('legend', null, 'Variants'),
    h('p', { class: 'field-error', hidden: true }),
    list,
    h('button', { type: 'button', class: 'button small', onclick: () => { rows.push({ key: '', name: '', value: '' }); draw(); focusRow(rows.length - 1); } }, 'Add variant'));

  /** @param {number} i */
  const focusRow = (i) => /** @type {HTMLElement | null} */ (list.querySelector(`[data-path="variants[${i}]"] input`))?.focus();

  function draw() {
    replace(list, rows.map((row, i) => {
      const n = i + 1;
      const input = (/** @type {'key' | 'name' | 'value'} */ part, /** @type {Record<string, any>} */ props) => {
        const control = h(part === 'value' && kind === 'json' ? 'textarea' : 'input', { ...props, id: uid('variant') });
        if (control instanceof HTMLTextAreaElement) control.value = row[part];
        else /** @type {HTMLInputElement} */ (control).value = row[part];
        control.addEventListener('input', () => {
          row[part] = /** @type {HTMLInputElement} */ (control).value;
          if (part === 'value') check(control, row.value);
        });
        return control;
      };
      const key = input('key', { type: 'text', autocomplete: 'off', placeholder: 'blue', 'aria-label': `Variant ${n} key` });
      const name = input('name', { type: 'text', autocomplete: 'off', placeholder: 'optional', 'aria-label': `Variant ${n} name` });
      const value = input('value', {
        type: kind === 'number' ? 'number' : 'text', step: kind === 'number' ? 'any' : undefined, rows: kind === 'json' ? 2 : undefined,
        autocomplete: 'off', placeholder: kind === 'json' ? '{"limit": 10}' : kind === 'number' ? '10' : '#0000ff',
        'aria-label': `Variant ${n} value`,
      });
      const cell = (/** @type {string} */ label, /** @type {HTMLElement} */ control, /** @type {string} */ path) =>
        h('div', { class: 'field', dataset: { path } }, h('label', { for: control.id }, label), control, h('p', { class: 'field-error', hidden: true }));
      return h('div', { class: 'variant-row', dataset: { path: `variants[${i}]` } },
        cell('Key', key, `variants[${i}].key`),
        cell('Name', name, `variants[${i}].name`),
        cell(kind === 'json' ? 'Value (JSON)' : 'Value', value, `variants[${i}].value`),
        h('button', {
          type: 'button', class: 'button small subtle', 'aria-label': `Remove variant ${n}`, disabled: rows.length <= 1,
          onclick: () => { rows = rows.filter((r) => r !== row); draw(); },
        }, 'Remove'));
    }));
  }

  /** Marks a JSON value that does not parse while it is typed. @param {HTMLElement} control @param {string} text */
  function check(control, text) {
    if (kind !== 'json') return;
    const error = control.parentElement?.querySelector('.field-error');
    const problem = text.trim() && parse(text) === undefined ? 'Not valid JSON.' : '';
    if (error) {
      error.textContent = problem;
      error.toggleAttribute('hidden', !problem);
    }
    if (problem) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  }

  /** The variants as the API takes them; a 422-shaped ApiError naming each bad row. */
  function value() {
    /** @type {{path: string, message: string}[]} */
    const errors = [];
    const out = rows.map((row, i) => {
      const n = i + 1;
      /** @type {any} */
      const v = { key: row.key.trim() };
      if (row.name.trim()) v.name = row.name.trim();
      const text = row.value.trim();
      if (kind === 'number') {
        v.value = Number(text);
        if (text === '' || !Number.isFinite(v.value)) errors.push({ path: `variants[${i}].value`, message: `Variant ${n}: give a number.` });
      } else if (kind === 'json') {
        v.value = parse(text);
        if (v.value === undefined) errors.push({ path: `variants[${i}].value`, message: `Variant ${n}: not valid JSON.` });
      } else {
        v.value = row.value;
      }
      if (!v.key) errors.push({ path: `variants[${i}].key`, message: `Variant ${n}: give it a key.` });
      return v;
    });
    if (errors.length) throw new ApiError(422, { errors });
    return out;
  }

  draw();
  return {
    el,
    value,
    setKind(next) {
      kind = next;
      draw();
    },
  };
}

/** @param {string} text @returns {any} the value, or undefined when it is not JSON */
function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A value as its input shows it. @param {string} kind @param {any} value */
function valueText(kind, value) {
  if (kind === 'json') return JSON.stringify(value);
  return value === null || value === undefined ? '' : String(value);
}
