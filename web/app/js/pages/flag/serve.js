// What a rule or the default serves: one variant, or a percentage split. Percentages are edited as people
// think of them (25 %) and sent as weights in units of 1/100000; a boolean flag's split is one number (the
// share that gets `on`), a multi-variant split one number per variant, whose total is shown as it is typed.

import { ApiError } from '../../api.js';
import { h, uid } from '../../dom.js';
import { percent } from '../flag-state.js';

export const TOTAL = 100000;

/** A percentage (0–100, three decimals) as a weight. @param {number} p */
export const weightOf = (p) => Math.round(p * 1000);

/**
 * A control wrapped like `field()` but around several elements (a fieldset), so API errors at `path` land on it.
 * @param {string} legend @param {string} path @param {...any} children
 */
export function fieldset(legend, path, ...children) {
  return h('fieldset', { class: 'field group', dataset: { path } },
    h('legend', null, legend), ...children, h('p', { class: 'field-error', hidden: true }));
}

/**
 * The serve editor.
 * @param {any} flag the definition (kind, variants)
 * @param {any} serve the current Serve (`{variant}` or `{split}`), or undefined for a new rule
 * @param {string} path the API path of this Serve, e.g. `rules[2].serve` or `default`
 * @param {string} label e.g. 'Serve' or 'Default serve'
 */
export function serveEditor(flag, serve, path, label) {
  const name = uid('serve');
  const variants = /** @type {any[]} */ (flag.variants);
  const isSplit = serve?.split !== undefined;
  const asVariant = h('input', { type: 'radio', name, value: 'variant', checked: !isSplit });
  const asSplit = h('input', { type: 'radio', name, value: 'split', checked: isSplit });
  const variant = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': `${label}: variant` },
    variants.map((v) => h('option', { value: v.key, selected: v.key === (serve?.variant ?? flag.variants[0]?.key) }, variantLabel(v)))));
  const variantField = h('div', { class: 'field', dataset: { path: `${path}.variant` } }, variant, h('p', { class: 'field-error', hidden: true }));

  // The split keeps the order it was written in: reordering weights would move contexts between variants.
  /** @type {{variant: string, weight: number}[]} */
  const existing = serve?.split?.weights ?? [];
  const order = [...existing.map((w) => w.variant).filter((k) => variants.some((v) => v.key === k)),
    ...variants.map((v) => v.key).filter((k) => !existing.some((w) => w.variant === k))];
  const weightOfVariant = (/** @type {string} */ k) => existing.find((w) => w.variant === k)?.weight ?? 0;
  const bucketBy = h('input', { type: 'text', value: serve?.split?.bucket_by ?? 'key', autocomplete: 'off', class: 'short' });
  const bucketId = uid();
  bucketBy.id = bucketId;
  const total = h('p', { class: 'split-total', 'aria-live': 'polite' });
  /** @type {Map<string, HTMLInputElement>} */
  const inputs = new Map();
  const boolean = flag.kind === 'boolean';
  const shown = boolean ? ['on'] : order;
  const rows = shown.map((k) => {
    const input = /** @type {HTMLInputElement} */ (h('input', {
      type: 'number', min: 0, max: 100, step: 'any', class: 'percent', inputmode: 'decimal',
      value: String(weightOfVariant(k) / 1000),
    }));
    input.id = uid();
    inputs.set(k, input);
    input.addEventListener('input', showTotal);
    return h('div', { class: 'split-row' },
      h('label', { for: input.id }, boolean ? 'Percentage served on' : `${k} %`), input, boolean ? h('span', null, '%') : null);
  });
  const weightsField = h('div', { class: 'field', dataset: { path: `${path}.split.weights` } },
    ...rows, total, h('p', { class: 'field-error', hidden: true }));
  const splitBox = h('div', { class: 'split-edit' }, weightsField,
    h('div', { class: 'field', dataset: { path: `${path}.split.bucket_by` } },
      h('label', { for: bucketId }, 'Bucket by attribute'), bucketBy, h('p', { class: 'field-error', hidden: true })));

  /** The percentages as typed (NaN for an empty or bad input). */
  function percents() {
    return [...inputs.entries()].map(([k, input]) => [k, input.value.trim() === '' ? NaN : Number(input.value)]);
  }
  function showTotal() {
    if (boolean) {
      const on = Number(inputs.get('on')?.value);
      total.textContent = Number.isFinite(on) && on >= 0 && on <= 100 ? `on ${percent(weightOf(on))} · off ${percent(TOTAL - weightOf(on))}` : 'Give a percentage from 0 to 100.';
      return;
    }
    const sum = percents().reduce((s, [, p]) => s + (Number.isFinite(p) ? weightOf(/** @type {number} */ (p)) : 0), 0);
    total.textContent = `Total: ${percent(sum)}${sum === TOTAL ? '' : ' (must be 100%)'}`;
    total.classList.toggle('bad', sum !== TOTAL);
  }
  showTotal();
  const sync = () => {
    variantField.hidden = !(/** @type {HTMLInputElement} */ (asVariant).checked);
    splitBox.hidden = !(/** @type {HTMLInputElement} */ (asSplit).checked);
  };
  asVariant.addEventListener('change', sync);
  asSplit.addEventListener('change', sync);
  sync();

  // A split bucketed as another system does (imported from Unleash) is kept as it is: its weights count in
  // that system's units, and changing them here would move contexts. It can be replaced by a variant.
  const imported = isSplit && serve.split.bucketing ? serve : null;
  if (imported) {
    splitBox.replaceChildren(h('p', { class: 'hint imported-split' },
      `${serveText(imported)}. Kept as imported; serve a variant to replace it.`));
  }
  const el = fieldset(label, path,
    h('div', { class: 'choice' },
      h('label', { class: 'check' }, asVariant, ' A variant'),
      h('label', { class: 'check' }, asSplit, imported ? ' The imported split' : boolean ? ' A percentage rollout' : ' A percentage split')),
    variantField, splitBox);

  /**
   * The Serve as the API takes it; throws a 422-shaped ApiError for a split that cannot be right.
   * @returns {any}
   */
  function value() {
    if (/** @type {HTMLInputElement} */ (asVariant).checked) return { variant: variant.value };
    if (imported) return imported;
    const bucket = /** @type {HTMLInputElement} */ (bucketBy).value.trim() || 'key';
    const bad = (/** @type {string} */ message) => new ApiError(422, { errors: [{ path: `${path}.split.weights`, message }] });
    if (boolean) {
      const on = Number(inputs.get('on')?.value);
      if (inputs.get('on')?.value.trim() === '' || !Number.isFinite(on) || on < 0 || on > 100) throw bad('Give a percentage from 0 to 100.');
      const weights = order.map((k) => ({ variant: k, weight: k === 'on' ? weightOf(on) : TOTAL - weightOf(on) }));
      return { split: { bucket_by: bucket, weights } };
    }
    const list = percents();
    if (list.some(([, p]) => !Number.isFinite(p) || /** @type {number} */ (p) < 0)) throw bad('Every percentage must be a number from 0 to 100.');
    const weights = list.map(([k, p]) => ({ variant: k, weight: weightOf(/** @type {number} */ (p)) }));
    const sum = weights.reduce((s, w) => s + w.weight, 0);
    if (sum !== TOTAL) throw bad(`The percentages add up to ${percent(sum)}, not 100%.`);
    return { split: { bucket_by: bucket, weights } };
  }

  return { el, value };
}

/** @param {any} v a Variant */
export function variantLabel(v) {
  return v.name && v.name !== v.key ? `${v.key} (${v.name})` : v.key;
}

/**
 * A Serve in words: `on`, or `on 25% · off 75%`.
 * @param {any} serve
 */
export function serveText(serve) {
  if (serve?.variant !== undefined) return serve.variant;
  const weights = serve?.split?.weights ?? [];
  if (serve?.split?.bucketing) {
    const total = weights.reduce((/** @type {number} */ s, /** @type {any} */ w) => s + w.weight, 0) || 1;
    const shares = weights.map((/** @type {any} */ w) => `${w.variant} ${percent(Math.round((w.weight * TOTAL) / total))}`);
    return `${shares.join(' · ')}, ${bucketingText(serve.split)}`;
  }
  const by = serve?.split?.bucket_by && serve.split.bucket_by !== 'key' ? ` (by ${serve.split.bucket_by})` : '';
  return weights.map((/** @type {any} */ w) => `${w.variant} ${percent(w.weight)}`).join(' · ') + by;
}

/**
 * How a split imported from elsewhere buckets: `bucketed as Unleash (stickiness userId, group grp-a)`.
 * @param {any} split
 */
export function bucketingText(split) {
  const b = split.bucketing;
  if (b?.scheme === 'unleash') return `bucketed as Unleash (stickiness ${split.bucket_by}, group ${b.group_id})`;
  return `bucketed as ${b?.scheme ?? 'Pennon'}`;
}
