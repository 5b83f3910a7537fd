// Creating or editing a guard: metric, statistic, direction, threshold (absolute or relative), min samples,
// alpha, treatment and control variants, window, action and source (the SDK metrics, or Prometheus with a
// PromQL template per number). API problems land at their field.

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
  // The metrics the server knows are the metric's only choices; picking one sets the statistic to its kind.
  /** @type {Map<string, any>} */
  const metrics = new Map();
  const c = {
    metric: h('select', { name: 'metric', required: true },
      h('option', { value: '', disabled: true, selected: !guard }, 'Loading metrics…'),
      guard ? h('option', { value: guard.metric, selected: true }, guard.metric) : null),
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
    source: select('source_kind', [['sdk', 'SDK metrics'], ['prometheus', 'Prometheus']], guard?.source?.kind ?? 'sdk'),
    url: h('input', { type: 'url', name: 'source_url', autocomplete: 'off', placeholder: 'the server’s --prometheus-url', value: guard?.source?.url ?? '' }),
  };
  /** The PromQL templates: [field, label, statistic]. */
  const TEMPLATES = [['events', 'Events query', 'rate'], ['requests', 'Requests query', 'rate'],
    ['sum', 'Sum query', 'mean'], ['count', 'Count query', 'mean'], ['sum_squares', 'Sum of squares query', 'mean']];
  /** @type {Record<string, HTMLTextAreaElement>} */
  const templates = {};
  const templateFields = TEMPLATES.map(([name, label, statistic]) => {
    templates[name] = /** @type {HTMLTextAreaElement} */ (h('textarea', { name: `source_${name}`, rows: 2, spellcheck: false, value: guard?.source?.[name] ?? '' }));
    const f = field(label, templates[name], { path: `source.${name}`,
      hint: name === 'events' ? 'e.g. sum(increase(errors_total{variant="{{variant}}"}[{{range}}])). Use {{variant}} and {{range}}; {{flag}} and {{environment}} too.' : undefined });
    f.dataset.statistic = statistic;
    f.classList.add('source-template');
    return f;
  });
  const urlField = field('Prometheus URL', c.url, { path: 'source.url', hint: 'Leave empty for the server’s --prometheus-url.' });
  const sourceSection = h('div', { class: 'grid source-fields' }, urlField, ...templateFields);
  const showSource = () => {
    const prometheus = /** @type {HTMLSelectElement} */ (c.source).value === 'prometheus';
    sourceSection.hidden = !prometheus;
    const statistic = /** @type {HTMLSelectElement} */ (c.statistic).value;
    for (const f of templateFields) f.hidden = f.dataset.statistic !== statistic;
  };
  c.source.addEventListener('change', showSource);
  c.statistic.addEventListener('change', showSource);
  showSource();
  const title = guard ? `Edit guard #${guard.id}` : 'New guard';
  const form = h('form', { class: 'card form guard-form', 'aria-label': title },
    h('h3', null, title),
    h('div', { class: 'grid' },
      field('Metric', c.metric, { path: 'metric', hint: 'One of the metrics (the Metrics page): the name the SDK tracks.' }),
      field('Statistic', c.statistic, { path: 'statistic' }),
      field('Direction', c.direction, { path: 'direction' }),
      field('Threshold kind', c.thresholdKind, { path: 'threshold_kind' }),
      field('Threshold', c.threshold, { path: 'threshold', hint: 'Relative: 0.1 = at most 10% worse than the control. Absolute: the value itself (0.02 = a 2% rate).' }),
      field('Minimum samples', c.minSamples, { path: 'min_samples', hint: 'Per compared variant, before any verdict.' }),
      field('Alpha', c.alpha, { path: 'alpha', hint: 'Significance level over the guard’s life.' }),
      field('Treatment variant', c.variant, { path: 'variant' }),
      field('Control variant', c.control, { path: 'control' }),
      field('Window', c.window, { path: 'window', hint: 'How far back the chart looks: 30m, 1h, 1d. The test counts all data since the guard started.' }),
      field('On breach', c.action, { path: 'action' }),
      field('Source', c.source, { path: 'source', hint: 'Where the numbers come from: what SDKs report, or PromQL queries per variant.' })),
    sourceSection,
    guard ? h('p', { class: 'hint' }, 'Saving starts the test over: the guard needs its minimum samples again.') : null,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button subtle', onclick: on.cancel }, 'Cancel'),
      h('button', { type: 'submit', class: 'button primary' }, guard ? 'Save guard' : 'Create guard')));

  const metricSelect = /** @type {HTMLSelectElement} */ (c.metric);
  void api.get('/metrics').then((/** @type {any} */ list) => {
    const chosen = guard?.metric ?? '';
    const options = list.items.map((/** @type {any} */ m) => {
      metrics.set(m.key, m);
      return h('option', { value: m.key, selected: m.key === chosen },
        `${m.key} (${m.kind}${m.unit ? `, ${m.unit}` : ''})${m.description ? ` — ${m.description}` : ''}`);
    });
    // A guard on a metric deleted since keeps showing it, so that saving does not change it unasked.
    const kept = chosen && !metrics.has(chosen) ? h('option', { value: chosen, selected: true }, `${chosen} (no longer a metric)`) : null;
    const none = h('option', { value: '', disabled: true, selected: !chosen }, list.items.length ? 'Choose a metric' : 'No metrics yet: create one on the Metrics page');
    metricSelect.replaceChildren(none, ...options, ...(kept ? [kept] : []));
  }).catch(() => {
    metricSelect.replaceChildren(h('option', { value: guard?.metric ?? '', selected: true }, guard?.metric ?? 'Metrics could not be loaded'));
  });
  c.metric.addEventListener('change', () => {
    const m = metrics.get(metricSelect.value);
    if (m) /** @type {HTMLSelectElement} */ (c.statistic).value = m.kind;
    showSource();
  });

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
    if (v(c.source) === 'prometheus') {
      /** @type {any} */
      const source = { kind: 'prometheus' };
      if (v(c.url)) source.url = v(c.url);
      for (const [name, , statistic] of TEMPLATES) if (statistic === body.statistic) source[name] = v(templates[name]);
      body.source = source;
    } else {
      body.source = { kind: 'sdk' };
    }
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
