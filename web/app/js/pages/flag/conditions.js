// The condition builder: attribute, operator (every operator the API knows, in words), the values the operator
// takes (none for `exists`, one number for lt/gt, one per line for lists), and negate.

import { h, uid } from '../../dom.js';

/** Every operator of the API's `Operator` schema: [value, label, what its values are]. */
export const OPERATORS = /** @type {const} */ ([
  ['eq', 'equals', 'one'],
  ['in', 'is one of', 'many'],
  ['contains', 'contains', 'many'],
  ['starts_with', 'starts with', 'many'],
  ['ends_with', 'ends with', 'many'],
  ['matches', 'matches regex', 'lines'],
  ['lt', 'less than (number)', 'number'],
  ['lte', 'at most (number)', 'number'],
  ['gt', 'greater than (number)', 'number'],
  ['gte', 'at least (number)', 'number'],
  ['semver_eq', 'version equals (semver)', 'semver'],
  ['semver_lt', 'version before (semver)', 'semver'],
  ['semver_lte', 'version at most (semver)', 'semver'],
  ['semver_gt', 'version after (semver)', 'semver'],
  ['semver_gte', 'version at least (semver)', 'semver'],
  ['before', 'is before (time)', 'time'],
  ['after', 'is after (time)', 'time'],
  ['exists', 'exists', 'none'],
  ['unleash_rollout', 'is in the Unleash rollout', 'rollout'],
]);

/** @param {string} op */
const shape = (op) => OPERATORS.find(([k]) => k === op)?.[2] ?? 'many';
/** @param {string} op */
export const operatorLabel = (op) => OPERATORS.find(([k]) => k === op)?.[1] ?? op;

/** A condition in words: `plan is one of pro, enterprise`. @param {any} c */
export function conditionText(c) {
  if (c.operator === 'unleash_rollout') {
    const [group, share] = c.values ?? [];
    return `${c.negate ? 'not: ' : ''}${c.attribute} is in the Unleash rollout of ${share}% (group ${group})`;
  }
  const values = (c.values ?? []).map((/** @type {any} */ v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  return `${c.negate ? 'not: ' : ''}${c.attribute} ${operatorLabel(c.operator)}${values ? ` ${values}` : ''}`;
}

/**
 * One condition's controls. `setPath(p)` renames its API paths (e.g. `rules[1].conditions[0]`) after a
 * sibling is removed.
 * @param {any} condition the Condition, or undefined for a new one
 * @param {() => void} onRemove
 */
export function conditionRow(condition, onRemove) {
  const c = condition ?? { attribute: '', operator: 'in', values: [] };
  // Values that were numbers or booleans stay so when their text is unchanged (`eq 3` is not `eq "3"`).
  const typed = new Map((c.values ?? []).filter((/** @type {any} */ v) => typeof v !== 'string').map((/** @type {any} */ v) => [String(v), v]));
  const attribute = /** @type {HTMLInputElement} */ (h('input', { type: 'text', value: c.attribute, autocomplete: 'off', placeholder: 'e.g. country', class: 'attr' }));
  const operator = /** @type {HTMLSelectElement} */ (h('select', null,
    OPERATORS.map(([k, label]) => h('option', { value: k, selected: k === c.operator }, label))));
  const negate = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', checked: Boolean(c.negate) }));
  const valuesSlot = h('div', { class: 'values-slot' });
  const remove = h('button', { type: 'button', class: 'button small subtle', onclick: onRemove }, 'Remove condition');
  const parts = {
    attribute: cell('Attribute', attribute),
    operator: cell('Operator', operator),
    values: h('div', { class: 'field' }),
    negate: h('div', { class: 'field check-field' }, h('label', { class: 'check' }, negate, ' Negate'), error()),
  };
  const row = h('fieldset', { class: 'condition' }, h('legend', { class: 'visually-hidden' }, 'Condition'),
    parts.attribute, parts.operator, parts.values, parts.negate, remove);

  /** @type {HTMLInputElement | HTMLTextAreaElement | null} */
  let values = null;
  const initialText = (c.values ?? []).map((/** @type {any} */ v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  function drawValues(/** @type {string[]} */ texts) {
    const kind = shape(operator.value);
    parts.values.replaceChildren();
    values = null;
    if (kind === 'none') {
      parts.values.append(h('p', { class: 'hint' }, 'No values: holds when the attribute is present.'), error());
      return;
    }
    if (kind === 'many' || kind === 'lines' || kind === 'rollout') {
      values = /** @type {HTMLTextAreaElement} */ (h('textarea', { rows: Math.max(2, Math.min(texts.length, 6)), class: 'values' }));
      values.value = texts.join('\n');
    } else {
      values = /** @type {HTMLInputElement} */ (h('input', {
        type: kind === 'number' ? 'number' : 'text', step: kind === 'number' ? 'any' : null, class: 'values',
        value: texts[0] ?? '', autocomplete: 'off',
        placeholder: { semver: 'e.g. 2.3.0', time: 'e.g. 2026-01-31T12:00:00Z', one: '', number: '' }[kind],
      }));
    }
    values.id = uid();
    const hints = {
      many: 'One per line, or separated by commas.',
      lines: 'One regular expression per line; any may match.',
      number: 'A number.', semver: 'A semantic version.', time: 'An RFC 3339 time.', one: 'One value.',
      rollout: 'The Unleash group id, then the percentage (0 to 100), one per line.',
    };
    const hint = h('p', { class: 'hint', id: `${values.id}-hint` }, hints[kind]);
    const err = error();
    err.id = `${values.id}-error`;
    values.setAttribute('aria-describedby', `${hint.id} ${err.id}`);
    parts.values.append(h('label', { for: values.id }, 'Values'), values, hint, err);
  }
  drawValues(initialText);
  operator.addEventListener('change', () => drawValues(texts()));

  /** The values as typed, one string each. */
  function texts() {
    if (!values) return [];
    const kind = shape(operator.value);
    const raw = values.value;
    const list = kind === 'many' ? raw.split(/[\n,]/) : kind === 'lines' || kind === 'rollout' ? raw.split('\n') : [raw];
    return list.map((s) => s.trim()).filter((s) => s !== '');
  }

  return {
    el: row,
    /** @param {string} path */
    setPath(path) {
      row.dataset.path = path;
      parts.attribute.dataset.path = `${path}.attribute`;
      parts.operator.dataset.path = `${path}.operator`;
      parts.values.dataset.path = `${path}.values`;
      parts.negate.dataset.path = `${path}.negate`;
    },
    /** The Condition as the API takes it. */
    value() {
      const kind = shape(operator.value);
      const list = texts().map((t, i) => {
        if (kind === 'number' || (kind === 'rollout' && i === 1)) return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
        return typed.has(t) ? typed.get(t) : t;
      });
      /** @type {any} */
      const out = { attribute: attribute.value.trim(), operator: operator.value, values: list };
      if (negate.checked) out.negate = true;
      return out;
    },
  };
}

/** @param {string} label @param {HTMLElement} control */
function cell(label, control) {
  control.id = uid();
  const err = error();
  err.id = `${control.id}-error`;
  control.setAttribute('aria-describedby', err.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, err);
}

function error() {
  return h('p', { class: 'field-error', hidden: true });
}
