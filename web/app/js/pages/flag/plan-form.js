// The form that defines or replaces a rollout plan: the variant ramped, the control (non-boolean flags), what
// to bucket by, and the steps (percent + hold). API problems land at their field (`steps[2].hold`).

import { api, seg } from '../../api.js';
import { field, h, replace } from '../../dom.js';
import { environments } from '../../environments.js';
import { banner, clearErrors, confirmProduction, isConflict, showError } from '../../forms.js';

/** The ramp a new plan starts from. */
const DEFAULT_STEPS = [{ percent: 1, hold: '10m' }, { percent: 5, hold: '30m' }, { percent: 25, hold: '1h' }, { percent: 50, hold: '1h' }, { percent: 100 }];

/**
 * @param {any} flag FlagDetail
 * @param {string} env
 * @param {any | null} plan the plan it replaces, or null for a new one
 * @param {{saved: () => void, reload: () => void}} on
 */
export function planForm(flag, env, plan, on) {
  const variants = flag.variants.map((/** @type {any} */ v) => v.key);
  const boolean = flag.kind === 'boolean';
  const variant = h('select', { name: 'variant' }, variants.map((/** @type {string} */ v) =>
    h('option', { value: v, selected: v === (plan?.variant ?? (boolean ? 'on' : variants[0])) }, v)));
  const control = h('select', { name: 'control' }, variants.map((/** @type {string} */ v) =>
    h('option', { value: v, selected: v === (plan?.control ?? (boolean ? 'off' : variants[1])) }, v)));
  const bucketBy = h('input', { name: 'bucket_by', value: plan?.bucket_by ?? 'key', autocomplete: 'off' });
  const stepsBox = h('fieldset', { class: 'steps-edit', dataset: { path: 'steps' } },
    // The list's own error comes first: a problem naming `steps` lands there, not in the first row.
    h('legend', null, 'Steps'), h('p', { class: 'field-error', hidden: true }), h('div', { class: 'rows' }));
  const rows = /** @type {HTMLElement} */ (stepsBox.querySelector('.rows'));
  /** @type {{percent: string, hold: string}[]} */
  let steps = (plan?.steps ?? DEFAULT_STEPS).map((/** @type {any} */ s) => ({ percent: String(s.percent), hold: s.hold ?? '' }));

  const drawSteps = () => {
    replace(rows, steps.map((step, i) => {
      const percent = h('input', { type: 'number', name: `steps[${i}].percent`, min: '0', max: '100', step: 'any', value: step.percent, required: true, inputmode: 'decimal' });
      const hold = h('input', { name: `steps[${i}].hold`, value: step.hold, placeholder: i === steps.length - 1 ? 'none (last step)' : 'e.g. 10m', autocomplete: 'off' });
      percent.addEventListener('input', () => { step.percent = /** @type {HTMLInputElement} */ (percent).value; });
      hold.addEventListener('input', () => { step.hold = /** @type {HTMLInputElement} */ (hold).value; });
      const remove = h('button', { type: 'button', class: 'button small subtle', 'aria-label': `Remove step ${i + 1}`, disabled: steps.length <= 1 }, 'Remove');
      remove.addEventListener('click', () => {
        steps = steps.filter((s) => s !== step);
        drawSteps();
      });
      return h('div', { class: 'step-row' },
        field(`Step ${i + 1} percent`, percent, { path: `steps[${i}].percent` }),
        field(`Step ${i + 1} hold`, hold, { path: `steps[${i}].hold` }),
        remove);
    }));
  };
  drawSteps();
  const add = h('button', { type: 'button', class: 'button small' }, 'Add step');
  add.addEventListener('click', () => {
    steps.push({ percent: '', hold: '' });
    drawSteps();
    /** @type {HTMLElement | null} */ (rows.querySelector(`[name="steps[${steps.length - 1}].percent"]`))?.focus();
  });

  const form = h('form', { class: 'card form plan-form', 'aria-labelledby': 'plan-form-title' },
    h('h2', { id: 'plan-form-title' }, plan ? 'Replace the plan' : 'Define a rollout plan'),
    h('div', { class: 'grid' },
      field('Variant to ramp', variant, { path: 'variant' }),
      boolean ? null : field('Control (everybody else)', control, { path: 'control' }),
      field('Bucket by', bucketBy, { path: 'bucket_by', hint: 'The context attribute hashed into a bucket; key is the context key.' })),
    stepsBox,
    h('p', { class: 'hint' }, 'Percentages rise to 100; every step but the last holds for a while (30s, 10m, 1h 30m).'),
    h('div', { class: 'actions' }, add, h('button', { type: 'submit', class: 'button primary' }, plan ? 'Save plan' : 'Create plan')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    /** @type {any} */
    const body = {
      variant: /** @type {HTMLSelectElement} */ (variant).value,
      bucket_by: /** @type {HTMLInputElement} */ (bucketBy).value.trim() || 'key',
      steps: steps.map((s) => {
        /** @type {any} */
        const step = { percent: s.percent.trim() === '' ? null : Number(s.percent) };
        if (s.hold.trim()) step.hold = s.hold.trim();
        return step;
      }),
    };
    if (!boolean) body.control = /** @type {HTMLSelectElement} */ (control).value;
    if (!(await confirmProduction(environments.byKey(env), `${plan ? 'Replace the' : 'Create a'} rollout plan of ${flag.key}`))) return;
    try {
      await api.put(`/flags/${seg(flag.key)}/environments/${seg(env)}/rollout-plan`, body, plan?.version);
      on.saved();
    } catch (err) {
      if (isConflict(err)) await planConflict(form, flag.key, env, on.reload);
      else showError(form, err);
    }
  });
  return form;
}

/**
 * The plan changed meanwhile: says who changed it and offers a reload.
 * @param {HTMLElement} root @param {string} flag @param {string} env @param {() => void} reload
 */
export async function planConflict(root, flag, env, reload) {
  clearErrors(root);
  let who = 'someone else';
  try {
    const now = await api.get(`/flags/${seg(flag)}/environments/${seg(env)}/rollout-plan`);
    who = `${now.updated_by} (plan version ${now.version})`;
  } catch {
    // The plan may be gone; the plain message says enough.
  }
  const el = banner(root, `The plan changed meanwhile: the current version was made by ${who}. `,
    [h('button', { type: 'button', class: 'button', onclick: reload }, 'Reload')]);
  el.classList.add('conflict');
}
