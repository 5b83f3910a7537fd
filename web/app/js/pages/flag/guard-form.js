// Creating or editing a guard: metric, statistic, direction, threshold (absolute or relative), min samples,
// alpha, treatment and control variants, window and action. API problems land at their field.

import { api, seg } from '../../api.js';
import { field, h } from '../../dom.js';
import { environments } from '../../environments.js';
import { banner, clearErrors, confirmProduction, isConflict, showError } from '../../forms.js';

/** @param {string} name @param {[string, string][]} options @param {string} selected */
function select(name, options, selected) {
  return h('select', { name }, options.map(([value, label]) => h('option', { value, selected: value === selected }, label)));
}

/**
 * @param {any} flag FlagDetail
 * @param {string} env
 * @param {any | null} guard the guard edited, or null for a new one
 * @param {{saved: () => void, cancel: () => void}} on
 */
export function guardForm(flag, env, guard, on) {
  const variants = flag.variants.map((/** @type {any} */ v) => [v.key, v.key]);
  const boolean = flag.kind === 'boolean';
  const thresholdKind = guard?.threshold?.relative !== undefined ? 'relative' : guard ? 'absolute' : 'relative';
  const c = {
    metric: h('input', { name: 'metric', value: guard?.metric ?? '', required: true, autocomplete: 'off', placeholder: 'checkout_error' }),
    statistic: select('statistic', [['rate', 'rate (events per exposure)'], ['mean', 'mean (average value)']], guard?.statistic ?? 'rate'),
    direction: select('direction', [['higher_is_worse', 'higher is worse'], ['lower_is_worse', 'lower is worse']], guard?.direction ?? 'higher_is_worse'),
    thresholdKind: select('threshold_kind', [['relative', 'relative to the control'], ['absolute', 'absolute value']], thresholdKind),
    threshold: h('input', { type: 'number', name: 'threshold', step: 'any', required: true, inputmode: 'decimal',
      value: guard ? String(guard.threshold[thresholdKind]) : '0.1' }),
    minSamples: h('input', { type: 'number', name: 'min_samples', min: '1', step: '1', value: String(guard?.min_samples ?? 100) }),
    alpha: h('input', { type: 'number', name: 'alpha', min: '0', max: '1', step: 'any', value: String(guard?.alpha ?? 0.05) }),
    variant: select('variant', variants, guard?.variant ?? (boolean ? 'on' : variants[0]?.[0])),
    control: select('control', [['', boolean ? '(the other variant)' : '(none)'], ...variants], guard?.control ?? ''),
    window: h('input', { name: 'window', value: guard?.window ?? '1h', autocomplete: 'off' }),
    action: select('action', [['disable_flag', 'turn the flag off'], ['halt_rollout', 'halt the rollout plan']], guard?.action ?? 'disable_flag'),
  };
  const title = guard ? `Edit guard #${guard.id}` : 'New guard';
  const form = h('form', { class: 'card form guard-form', 'aria-label': title },
    h('h3', null, title),
    h('div', { class: 'grid' },
      field('Metric', c.metric, { path: 'metric', hint: 'The name the SDK tracks.' }),
      field('Statistic', c.statistic, { path: 'statistic' }),
      field('Direction', c.direction, { path: 'direction' }),
      field('Threshold kind', c.thresholdKind, { path: 'threshold_kind' }),
      field('Threshold', c.threshold, { path: 'threshold', hint: 'Relative: 0.1 = at most 10% worse than the control. Absolute: the value itself (0.02 = a 2% rate).' }),
      field('Minimum samples', c.minSamples, { path: 'min_samples', hint: 'Per compared variant, before any verdict.' }),
      field('Alpha', c.alpha, { path: 'alpha', hint: 'Significance level over the guard’s life.' }),
      field('Treatment variant', c.variant, { path: 'variant' }),
      field('Control variant', c.control, { path: 'control' }),
      field('Window', c.window, { path: 'window', hint: 'Older data are not counted: 30m, 1h, 1d.' }),
      field('On breach', c.action, { path: 'action' })),
    guard ? h('p', { class: 'hint' }, 'Saving starts the test over: the guard needs its minimum samples again.') : null,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button subtle', onclick: on.cancel }, 'Cancel'),
      h('button', { type: 'submit', class: 'button primary' }, guard ? 'Save guard' : 'Create guard')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = (/** @type {any} */ el) => el.value.trim();
    const num = (/** @type {any} */ el) => (v(el) === '' ? null : Number(v(el)));
    /** @type {any} */
    const body = {
      metric: v(c.metric),
      statistic: v(c.statistic),
      direction: v(c.direction),
      threshold: { [v(c.thresholdKind)]: num(c.threshold) },
      min_samples: num(c.minSamples),
      alpha: num(c.alpha),
      variant: v(c.variant),
      window: v(c.window) || null,
      action: v(c.action),
    };
    if (v(c.control)) body.control = v(c.control);
    const base = `/flags/${seg(flag.key)}/environments/${seg(env)}/guards`;
    if (!(await confirmProduction(environments.byKey(env), `${guard ? 'Change the' : 'Add a'} guard on ${body.metric || 'a metric'} of ${flag.key}`))) return;
    try {
      if (guard) await api.put(`${base}/${guard.id}`, body, guard.version);
      else await api.post(base, body);
      on.saved();
    } catch (err) {
      if (!isConflict(err)) {
        showError(form, err);
        return;
      }
      let who = 'someone else';
      try {
        const audit = await api.get('/audit', { flag: flag.key, environment: env, limit: 50 });
        const last = audit.items.find((/** @type {any} */ a) => a.resource_key === `${flag.key}/${env}/${guard.id}` || a.detail?.guard === guard.id);
        if (last) who = `${last.actor} (${last.action})`;
      } catch {
        // The plain message says enough.
      }
      banner(form, `This guard changed while you were editing; the last change was by ${who}. `,
        [h('button', { type: 'button', class: 'button', onclick: on.saved }, 'Reload')]).classList.add('conflict');
    }
  });
  return form;
}
