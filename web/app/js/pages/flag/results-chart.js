// One metric's interval over time on the Results tab: for each variant compared with the control, its
// difference (a line) and its always-valid interval (a band) at the end of each step, cumulative since the
// period's start, around a zero line. The intervals hold at every look, so the whole band may be read.

import { h } from '../../dom.js';

const NS = 'http://www.w3.org/2000/svg';
const [W, H] = [640, 220];
const M = { left: 64, right: 14, top: 14, bottom: 26 };
/** Colours of the compared variants, in order (the CSS classes `v0`, `v1`, …). */
const SERIES = 4;

/**
 * An SVG element. @param {string} tag @param {Record<string, any>} [attrs] @param {...any} children
 * @returns {SVGElement}
 */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** @param {string} when */
const clock = (when) => new Date(when).toLocaleTimeString();

/**
 * @param {any} metric a metric of the readout (kind, unit)
 * @param {any} timeline ResultsTimeline
 * @param {(metric: any, d: number) => string} diffText
 */
export function intervalChart(metric, timeline, diffText) {
  const points = timeline.points ?? [];
  const variants = points[0]?.variants.map((/** @type {any} */ v) => v.variant) ?? [];
  const known = points.flatMap((/** @type {any} */ p) => p.variants.filter((/** @type {any} */ v) => v.lower !== undefined && v.lower !== null));
  if (!known.length) return h('p', { class: 'empty chart-empty' }, 'Not enough data yet for an interval.');
  const reach = Math.max(...known.flatMap((/** @type {any} */ v) => [Math.abs(v.lower), Math.abs(v.upper)])) * 1.1 || 1;
  const t0 = Date.parse(timeline.period.from);
  const t1 = Date.parse(points[points.length - 1].at);
  const x = (/** @type {number} */ t) => M.left + ((t - t0) / Math.max(1, t1 - t0)) * (W - M.left - M.right);
  const y = (/** @type {number} */ v) => M.top + ((reach - v) / (2 * reach)) * (H - M.top - M.bottom);

  /** The band and the line of one variant, broken where it has no interval. @param {number} i */
  const series = (i) => {
    /** @type {any[][]} */
    const runs = [[]];
    for (const p of points) {
      const v = p.variants[i];
      if (v && v.lower !== undefined && v.lower !== null) runs[runs.length - 1].push({ at: Date.parse(p.at), v });
      else if (runs[runs.length - 1].length) runs.push([]);
    }
    return runs.filter((r) => r.length).map((run) => {
      if (run.length === 1) {
        // One step alone has no band to draw: its interval as a bar, its difference as a dot.
        const [{ at, v }] = run;
        return s('g', { class: `variant v${i % SERIES}`, 'data-variant': variants[i] },
          s('line', { class: 'line', x1: x(at).toFixed(1), x2: x(at).toFixed(1), y1: y(v.lower).toFixed(1), y2: y(v.upper).toFixed(1) }),
          s('circle', { class: 'dot', cx: x(at).toFixed(1), cy: y(v.difference).toFixed(1), r: 3.5 }));
      }
      const upper = run.map((q) => `${x(q.at).toFixed(1)},${y(q.v.upper).toFixed(1)}`);
      const lower = run.slice().reverse().map((q) => `${x(q.at).toFixed(1)},${y(q.v.lower).toFixed(1)}`);
      const line = run.map((q, j) => `${j ? 'L' : 'M'}${x(q.at).toFixed(1)},${y(q.v.difference).toFixed(1)}`).join(' ');
      return s('g', { class: `variant v${i % SERIES}`, 'data-variant': variants[i] },
        s('polygon', { class: 'band', points: [...upper, ...lower].join(' ') }),
        s('path', { class: 'line', d: line }));
    });
  };

  const ticks = [-1, -0.5, 0, 0.5, 1].map((f) => reach * f / 1.1);
  const axes = s('g', { class: 'axes' },
    ticks.map((v) => s('g', {},
      s('line', { class: v === 0 ? 'zero-line' : 'grid', x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }),
      s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, diffText(metric, v)))),
    s('text', { x: M.left, y: H - 6 }, clock(timeline.period.from)),
    s('text', { x: W - M.right, y: H - 6, 'text-anchor': 'end' }, clock(points[points.length - 1].at)));
  const last = points[points.length - 1];
  const summary = `${metric.metric}: difference to ${timeline.control} over time. Latest: ${last.variants
    .map((/** @type {any} */ v) => (v.lower === undefined || v.lower === null ? `${v.variant} not enough data`
      : `${v.variant} ${diffText(metric, v.difference)} [${diffText(metric, v.lower)}, ${diffText(metric, v.upper)}]`)).join('; ')}.`;
  return h('figure', { class: 'interval-chart', dataset: { metric: metric.metric } },
    s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': summary, preserveAspectRatio: 'xMidYMid meet' },
      axes, variants.flatMap((_, i) => series(i))),
    h('figcaption', { class: 'legend' },
      variants.map((v, i) => h('span', { class: `key-variant v${i % SERIES}` }, `${v} − ${timeline.control}`)),
      h('span', { class: 'hint' }, `${Math.round((1 - timeline.alpha) * 100)}% always-valid intervals, cumulative · ${points.length} step${points.length === 1 ? '' : 's'} of ${timeline.step_seconds}s`)));
}
