// The Results tab: the experiment readout of a flag that serves a split here. The sample-ratio check comes
// first (with a mismatch nothing below can be trusted), then one row per metric: each variant's value, and
// each variant's difference to the control with its always-valid interval drawn as a bar around a zero line,
// and on demand (or with `?metric=`, as a guard links here) that interval over time.

import { api, ApiError, seg } from '../../api.js';
import { h, loadError, replace, time } from '../../dom.js';
import { flagHeader, pageEnvironment } from './header.js';
import { openFlag } from './open.js';
import { intervalChart } from './results-chart.js';

const SVG = 'http://www.w3.org/2000/svg';

/** @param {string} tag @param {Record<string, string | number>} attrs */
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A rate as a percentage, a mean as a number with its unit. @param {any} metric @param {number | null} v */
function valueText(metric, v) {
  if (v === null || v === undefined) return '–';
  if (metric.kind === 'rate') return `${(100 * v).toFixed(2)}%`;
  return `${Number(v.toPrecision(4))}${metric.unit ? ` ${metric.unit}` : ''}`;
}

/** A difference: percentage points for rates. @param {any} metric @param {number} d */
function diffText(metric, d) {
  const sign = d > 0 ? '+' : '';
  if (metric.kind === 'rate') return `${sign}${(100 * d).toFixed(2)} pp`;
  return `${sign}${Number(d.toPrecision(3))}${metric.unit ? ` ${metric.unit}` : ''}`;
}

/**
 * The interval of each compared variant as a bar, on one scale with a zero line.
 * @param {any} metric
 */
function intervalBars(metric) {
  const compared = metric.variants.filter((/** @type {any} */ v) => v.comparison);
  if (!compared.length) return h('span', { class: 'hint' }, 'not enough data');
  const reach = Math.max(...compared.map((/** @type {any} */ v) => Math.max(Math.abs(v.comparison.lower), Math.abs(v.comparison.upper)))) || 1;
  const width = 240;
  const rowHeight = 18;
  const x = (/** @type {number} */ d) => width / 2 + (d / reach) * (width / 2 - 6);
  const chart = svg('svg', { width, height: compared.length * rowHeight + 4, role: 'img', class: 'interval-bars',
    'aria-label': compared.map((/** @type {any} */ v) => `${v.variant}: ${diffText(metric, v.comparison.lower)} to ${diffText(metric, v.comparison.upper)}`).join('; ') });
  chart.append(svg('line', { x1: width / 2, x2: width / 2, y1: 0, y2: compared.length * rowHeight + 4, class: 'zero-line' }));
  compared.forEach((/** @type {any} */ v, i) => {
    const y = i * rowHeight + 4;
    const c = v.comparison;
    chart.append(svg('rect', { x: x(c.lower), y, width: Math.max(2, x(c.upper) - x(c.lower)), height: rowHeight - 8,
      class: `interval ${v.verdict}`, 'data-variant': v.variant }));
    chart.append(svg('line', { x1: x(c.difference), x2: x(c.difference), y1: y - 2, y2: y + rowHeight - 6, class: 'estimate' }));
  });
  return chart;
}

/**
 * A metric's row, and the button that opens its interval over time in a row below it.
 * @param {any} metric @param {(metric: any) => Promise<Node>} overTime
 * @returns {HTMLElement[]}
 */
function metricRow(metric, overTime) {
  const control = metric.variants.find((/** @type {any} */ v) => v.control);
  const chartRow = h('tr', { class: 'timeline-row', hidden: true, dataset: { timeline: metric.metric } }, h('td', { colspan: 4 }));
  const toggle = h('button', { type: 'button', class: 'button small subtle', 'aria-expanded': 'false',
    'aria-label': `${metric.metric} over time`, onclick: () => show(toggle.getAttribute('aria-expanded') !== 'true') }, 'Over time');
  /** @param {boolean} open */
  const show = async (open) => {
    toggle.setAttribute('aria-expanded', String(open));
    chartRow.hidden = !open;
    if (open) replace(/** @type {HTMLElement} */ (chartRow.firstChild), await overTime(metric));
  };
  chartRow.addEventListener('open', () => show(true));
  return [h('tr', { dataset: { metric: metric.metric } },
    h('th', { scope: 'row' }, metric.metric, h('span', { class: 'hint' }, ` ${metric.kind}, ${metric.direction === 'higher_is_better' ? 'higher' : 'lower'} is better`), ' ', toggle),
    h('td', null, metric.variants.map((/** @type {any} */ v) => h('div', { dataset: { variant: v.variant } },
      h('strong', null, v.variant), `: ${valueText(metric, v.value)}`, h('span', { class: 'hint' }, ` (n = ${v.n})`)))),
    h('td', null, metric.variants.filter((/** @type {any} */ v) => !v.control).map((/** @type {any} */ v) => h('div', { dataset: { lift: v.variant } },
      v.comparison
        ? [`${v.variant} vs ${control?.variant}: ${diffText(metric, v.comparison.difference)}`,
          v.comparison.relative !== null ? ` (${v.comparison.relative > 0 ? '+' : ''}${(100 * v.comparison.relative).toFixed(1)}%)` : '',
          h('span', { class: 'hint' }, ` [${diffText(metric, v.comparison.lower)}, ${diffText(metric, v.comparison.upper)}]`), ' ',
          h('span', { class: `badge ${v.verdict}` }, v.verdict)]
        : [`${v.variant}: `, h('span', { class: 'badge inconclusive' }, 'inconclusive')]))),
    h('td', null, intervalBars(metric))), chartRow];
}

/** @type {import('../../router.js').Page} */
export async function resultsPage(view, params, query) {
  const env = pageEnvironment(query);
  const flag = await openFlag(view, params.flag);
  if (!flag) return;
  const body = h('div', { class: 'results', 'aria-live': 'polite' });
  replace(view, flagHeader(flag, '/results', env), body);
  let results;
  try {
    results = await api.get(`/flags/${seg(flag.key)}/environments/${seg(env)}/results`, { period: query.get('period') ?? undefined });
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      replace(body, h('p', { class: 'hint' }, `${flag.key} does not serve a split here: results compare the variants of a split.`));
    } else {
      replace(body, loadError(`Could not load the results: ${e instanceof Error ? e.message : e}`));
    }
    return;
  }
  const srm = results.sample_ratio;
  const banner = !srm
    ? h('p', { class: 'srm hint', dataset: { srm: 'none' } }, 'No exposures yet in this period.')
    : srm.mismatch
      ? h('div', { class: 'alert alert-danger srm', role: 'alert', dataset: { srm: 'mismatch' } },
        h('strong', null, 'Sample ratio mismatch. '),
        `The exposures per variant do not match the weights (χ² = ${srm.chi_square.toFixed(1)}, p = ${srm.p_value.toExponential(2)}). Assignment or reporting is broken; do not trust the comparisons below.`)
      : h('p', { class: 'srm hint', dataset: { srm: 'ok' } }, `Exposures match the weights (χ² = ${srm.chi_square.toFixed(2)}, p = ${srm.p_value.toFixed(3)}).`);
  const period = results.period;
  const overTime = async (/** @type {any} */ metric) => {
    try {
      const timeline = await api.get(`/flags/${seg(flag.key)}/environments/${seg(env)}/results/${seg(metric.metric)}/timeline`,
        { period: query.get('period') ?? undefined, control: results.control });
      return intervalChart(metric, timeline, diffText);
    } catch (e) {
      return loadError(`Could not load ${metric.metric} over time: ${e instanceof Error ? e.message : e}`);
    }
  };
  replace(body,
    banner,
    h('p', { class: 'hint' }, 'Since ', time(Date.parse(period.from)), period.until ? [' until ', time(Date.parse(period.until))] : ' (current weights)', ' · ',
      results.variants.map((/** @type {any} */ v) => `${v.variant} ${v.weight / 1000}%: ${v.exposures} exposures`).join(' · '),
      ` · ${Math.round((1 - results.alpha) * 100)}% always-valid intervals against ${results.control}`),
    results.metrics.length
      ? h('table', { class: 'results-table' },
        h('thead', null, h('tr', null, h('th', null, 'Metric'), h('th', null, 'Value per variant'), h('th', null, 'Difference to control'), h('th', null, 'Interval (zero line in the middle)'))),
        h('tbody', null, results.metrics.flatMap((/** @type {any} */ m) => metricRow(m, overTime))))
      : h('p', { class: 'hint' }, 'No metrics yet: create them under /api/v1/metrics.'));
  // From a guard: open that metric's interval over time.
  const wanted = query.get('metric');
  const row = wanted ? body.querySelector(`[data-timeline="${CSS.escape(wanted)}"]`) : null;
  if (row) {
    row.dispatchEvent(new Event('open'));
    row.scrollIntoView({ block: 'center' });
  }
}
