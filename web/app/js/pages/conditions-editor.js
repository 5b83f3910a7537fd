// A list of conditions (attribute, operator, values, negate), as segments hold them. Each row carries the API's
// field paths (`conditions[1].values`), so a 422 from the server lands at the control it names.

import { field, h, replace } from '../dom.js';

/** @typedef {{attribute: string, operator: string, values?: any[], negate?: boolean}} Condition */

/** Every operator, with what people read. */
export const OPERATORS = [
  ['eq', 'equals'],
  ['in', 'is one of'],
  ['contains', 'contains'],
  ['starts_with', 'starts with'],
  ['ends_with', 'ends with'],
  ['matches', 'matches regex'],
  ['lt', '< (number)'],
  ['lte', '≤ (number)'],
  ['gt', '> (number)'],
  ['gte', '≥ (number)'],
  ['semver_eq', 'version ='],
  ['semver_lt', 'version <'],
  ['semver_lte', 'version ≤'],
  ['semver_gt', 'version >'],
  ['semver_gte', 'version ≥'],
  ['before', 'before (time)'],
  ['after', 'after (time)'],
  ['exists', 'exists'],
];

const NUMERIC = new Set(['lt', 'lte', 'gt', 'gte']);
const SINGLE = new Set(['eq', 'lt', 'lte', 'gt', 'gte', 'semver_eq', 'semver_lt', 'semver_lte', 'semver_gt', 'semver_gte', 'before', 'after']);

/**
 * An editable list of conditions. `path` is the API path of the list (`conditions`).
 * @param {Condition[]} initial
 * @param {{path?: string, readOnly?: boolean}} [opts]
 * @returns {{el: HTMLElement, value: () => Condition[]}}
 */
export function conditionsEditor(initial, opts = {}) {
  const path = opts.path ?? 'conditions';
  /** @type {{row: HTMLElement, read: () => Condition}[]} */
  let rows = [];
  /** @type {Condition[]} */
  let state = initial.map((c) => ({ ...c, values: [...(c.values ?? [])] }));
  const list = h('ol', { class: 'segment-conditions' });
  const add = h('button', {
    type: 'button',
    class: 'button small',
    onclick: () => {
      state = [...read(), { attribute: '', operator: 'eq', values: [] }];
      draw();
      /** @type {HTMLElement | null} */ (list.querySelector('li:last-child input'))?.focus();
    },
  }, 'Add condition');
  const el = h('fieldset', { class: 'conditions-editor', dataset: { path } },
    h('legend', null, 'Conditions'),
    h('p', { class: 'hint' }, 'All must hold. A condition on an attribute the context lacks does not hold (unless negated).'),
    h('p', { class: 'field-error', hidden: true }),
    list,
    opts.readOnly ? null : add);

  const read = () => rows.map((r) => r.read());

  function draw() {
    rows = state.map((c, i) => conditionRow(c, `${path}[${i}]`, i, opts.readOnly ?? false, () => {
      const current = read();
      current.splice(i, 1);
      state = current;
      draw();
      add.focus();
    }));
    replace(list, rows.map((r) => r.row));
    if (!rows.length) replace(list, h('li', { class: 'empty' }, 'No conditions.'));
  }
  draw();
  return { el, value: read };
}

/**
 * @param {Condition} c
 * @param {string} at the condition's API path
 * @param {number} i
 * @param {boolean} readOnly
 * @param {() => void} remove
 */
function conditionRow(c, at, i, readOnly, remove) {
  const n = i + 1;
  const attribute = h('input', { name: `${at}.attribute`, value: c.attribute ?? '', autocomplete: 'off', placeholder: 'e.g. country', disabled: readOnly });
  const operator = h('select', { name: `${at}.operator`, disabled: readOnly },
    OPERATORS.map(([op, label]) => h('option', { value: op, selected: op === c.operator }, label)));
  const values = h('textarea', {
    name: `${at}.values`,
    rows: 2,
    value: (c.values ?? []).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n'),
    disabled: readOnly,
  });
  const negate = h('input', { type: 'checkbox', name: `${at}.negate`, checked: Boolean(c.negate), disabled: readOnly });
  const valuesField = field(`Values of condition ${n} (one per line)`, values, { path: `${at}.values` });
  const syncValues = () => {
    const op = /** @type {HTMLSelectElement} */ (operator).value;
    valuesField.hidden = op === 'exists';
    /** @type {HTMLTextAreaElement} */ (values).rows = SINGLE.has(op) ? 1 : 2;
  };
  operator.addEventListener('change', syncValues);
  syncValues();
  const row = h('li', { class: 'segment-condition' },
    field(`Attribute of condition ${n}`, attribute, { path: `${at}.attribute` }),
    field(`Operator of condition ${n}`, operator, { path: `${at}.operator` }),
    valuesField,
    h('label', { class: 'check' }, negate, ' Not'),
    readOnly ? null : h('button', { type: 'button', class: 'button small subtle', 'aria-label': `Remove condition ${n}`, onclick: remove }, 'Remove'));
  return {
    row,
    read: () => {
      const op = /** @type {HTMLSelectElement} */ (operator).value;
      /** @type {Condition} */
      const out = { attribute: /** @type {HTMLInputElement} */ (attribute).value.trim(), operator: op };
      if (op !== 'exists') out.values = parseValues(/** @type {HTMLTextAreaElement} */ (values).value, op, c.values ?? []);
      else out.values = [];
      if (/** @type {HTMLInputElement} */ (negate).checked) out.negate = true;
      return out;
    },
  };
}

/**
 * One value per non-empty line; numbers for the numeric operators (left as text when not a number, so the
 * server names the bad one). A line that shows a non-text value the condition already held (a number or a
 * boolean written through the API) keeps that value, so saving does not turn `30` into `"30"`.
 * @param {string} text @param {string} op @param {any[]} original
 */
function parseValues(text, op, original) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (NUMERIC.has(op)) return lines.map((l) => (Number.isFinite(Number(l)) ? Number(l) : l));
  const typed = new Map(original.filter((v) => typeof v !== 'string').map((v) => [JSON.stringify(v), v]));
  return lines.map((l) => (typed.has(l) ? typed.get(l) : l));
}
