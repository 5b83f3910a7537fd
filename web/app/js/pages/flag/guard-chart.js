// A guard's chart: treatment against control per time step, the threshold line (the absolute value, or the
// control's value moved by the relative margin), and the guard's state changes marked. Plain SVG.

import { h } from '../../dom.js';

const NS = 'http://www.w3.org/2000/svg';
const [W, H] = [640, 220];
const M = { left: 58, right: 14, top: 14, bottom: 26 };

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

/**
 * A guard's value for people: rates as percentages, means as numbers.
 * @param {any} guard @param {number | null | undefined} value
 */
export function fmt(guard, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (guard.statistic === 'rate') return `${Number((value * 100).toPrecision(3))}%`;
  return String(Number(value.toPrecision(4)));
}

/**
 * The limit the treatment must not pass, given the control's value.
 * @param {any} guard @param {number | null | undefined} control
 */
export function limitFor(guard, control) {
  if (guard.threshold.absolute !== undefined) return guard.threshold.absolute;
  if (control === null || control === undefined) return null;
  const margin = guard.threshold.relative;
  return guard.direction === 'lower_is_worse' ? control * (1 - margin) : control * (1 + margin);
}

/** @param {string} when */
const clock = (when) => new Date(when).toLocaleTimeString();

/**
 * @param {any} guard GuardBody
 * @param {any} series GuardSeries
 */
export function guardChart(guard, series) {
  const points = series.points ?? [];
  const withData = points.filter((/** @type {any} */ p) => p.treatment.value !== undefined && p.treatment.value !== null);
  const title = `${guard.metric}: ${guard.variant} against ${guard.control ?? 'the threshold'}`;
  if (!points.length) return h('p', { class: 'empty chart-empty' }, 'No data in this window yet.');
  const step = (series.step_seconds || 10) * 1000;
  const t0 = Date.parse(points[0].start);
  const t1 = Date.parse(points[points.length - 1].start) + step;
  const limits = points.map((/** @type {any} */ p) => limitFor(guard, p.control.value));
  const values = [
    ...points.flatMap((/** @type {any} */ p) => [p.treatment.value, p.control.value]),
    ...limits,
  ].filter((v) => v !== null && v !== undefined);
  const top = Math.max(...values, 0) * 1.15 || 1;
  const x = (/** @type {number} */ t) => M.left + ((t - t0) / Math.max(1, t1 - t0)) * (W - M.left - M.right);
  const y = (/** @type {number} */ v) => H - M.bottom - (v / top) * (H - M.top - M.bottom);
  const mid = (/** @type {any} */ p) => x(Date.parse(p.start) + step / 2);

  /** A line through the points that have a value, broken where one is missing. @param {(p: any, i: number) => number | null | undefined} at */
  const path = (at) => {
    let d = '';
    let pen = false;
    points.forEach((/** @type {any} */ p, /** @type {number} */ i) => {
      const v = at(p, i);
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${mid(p).toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
    });
    return d.trim();
  };
  /** The limit across each step (flat for an absolute threshold; following the control for a relative one). */
  const thresholdPath = () => {
    if (guard.threshold.absolute !== undefined) return `M${x(t0)},${y(guard.threshold.absolute).toFixed(1)} H${x(t1)}`;
    return points.map((/** @type {any} */ p, /** @type {number} */ i) => (limits[i] === null || limits[i] === undefined ? ''
      : `M${x(Date.parse(p.start)).toFixed(1)},${y(limits[i]).toFixed(1)} H${x(Date.parse(p.start) + step).toFixed(1)}`)).join(' ').trim();
  };
  /** @param {'treatment' | 'control'} arm */
  const dots = (arm) => points.filter((/** @type {any} */ p) => p[arm].value !== null && p[arm].value !== undefined)
    .map((/** @type {any} */ p) => s('circle', { class: `dot ${arm}`, cx: mid(p).toFixed(1), cy: y(p[arm].value).toFixed(1), r: 3 },
      s('title', {}, `${clock(p.start)} · ${arm === 'treatment' ? guard.variant : guard.control}: ${fmt(guard, p[arm].value)} (${p[arm].samples} samples)`)));

  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => top * f);
  const axes = s('g', { class: 'axes' },
    ticks.map((v) => s('g', {},
      s('line', { class: 'grid', x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }),
      s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(guard, v)))),
    s('text', { x: M.left, y: H - 6 }, clock(points[0].start)),
    s('text', { x: W - M.right, y: H - 6, 'text-anchor': 'end' }, clock(new Date(t1).toISOString())));
  // Labels of state changes close in time go on rows below one another instead of over each other.
  /** @type {number[]} where each row's last label ends */
  const rowEnds = [];
  const marks = (series.transitions ?? [])
    .filter((/** @type {any} */ tr) => Date.parse(tr.at) >= t0 && Date.parse(tr.at) <= t1)
    .sort((/** @type {any} */ a, /** @type {any} */ b) => Date.parse(a.at) - Date.parse(b.at))
    .map((/** @type {any} */ tr) => {
      const at = x(Date.parse(tr.at));
      const label = tr.state.replace('_', ' ');
      const width = label.length * 6.5 + 6;
      // Near the right edge the label goes on the line's left.
      const left = at > W - 90;
      const [from, to] = left ? [at - width, at] : [at, at + width];
      let row = rowEnds.findIndex((end) => end < from);
      if (row < 0) row = rowEnds.length;
      rowEnds[row] = to;
      const ty = M.top + 10 + row * 13;
      return s('g', { class: `transition ${tr.state}` },
        s('line', { x1: at, x2: at, y1: M.top, y2: H - M.bottom }),
        s('text', left ? { x: at - 3, y: ty, 'text-anchor': 'end' } : { x: at + 3, y: ty }, label),
        s('title', {}, `${clock(tr.at)}: ${label}${tr.p_value !== undefined && tr.p_value !== null ? ` (p = ${Number(tr.p_value).toPrecision(2)})` : ''}`));
    });

  const last = withData[withData.length - 1];
  const summary = last
    ? `${title}. Latest step: ${guard.variant} ${fmt(guard, last.treatment.value)}, ${guard.control ?? ''} ${fmt(guard, last.control.value)}; limit ${fmt(guard, limitFor(guard, last.control.value))}.`
    : `${title}. No samples yet.`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': summary, preserveAspectRatio: 'xMidYMid meet' },
    axes,
    s('path', { class: 'line threshold', d: thresholdPath() }),
    guard.control ? s('path', { class: 'line control', d: path((p) => p.control.value) }) : null,
    s('path', { class: 'line treatment', d: path((p) => p.treatment.value) }),
    guard.control ? dots('control') : null,
    dots('treatment'),
    marks);
  return h('figure', { class: 'guard-chart' }, svg,
    h('figcaption', { class: 'legend' },
      h('span', { class: 'key-treatment' }, `${guard.variant} (treatment)`),
      guard.control ? h('span', { class: 'key-control' }, `${guard.control} (control)`) : null,
      h('span', { class: 'key-threshold' }, guard.threshold.relative !== undefined ? `limit: control ${guard.direction === 'lower_is_worse' ? '−' : '+'}${guard.threshold.relative * 100}%` : `threshold ${fmt(guard, guard.threshold.absolute)}`),
      h('span', { class: 'hint' }, `${points.length} steps of ${series.step_seconds}s`)));
}
