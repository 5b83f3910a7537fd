// A readable diff between two versions of a config: a one-line summary of what changed (switched on, default
// changed, rule added ...) and the added and removed lines of the config as pretty JSON, with unchanged runs
// folded to a few lines of context.

import { h } from '../../dom.js';
import { configChanges } from '../sentences.js';

/** Fields that change with every version and say nothing. */
const NOISE = new Set(['version', 'flag', 'environment']);
const CONTEXT = 3;

/** The config without its bookkeeping fields. @param {any} config */
function content(config) {
  return Object.fromEntries(Object.entries(config ?? {}).filter(([k]) => !NOISE.has(k)));
}

/** What changed, in words. @param {any} before @param {any} after */
export function summary(before, after) {
  if (!before) return 'First version.';
  const parts = configChanges(before, after);
  const known = new Set(['enabled', 'default', 'off_variant', 'rules', 'targets', 'prerequisites']);
  const same = (/** @type {string} */ k) => JSON.stringify(before[k]) === JSON.stringify(after[k]);
  const other = Object.keys({ ...content(before), ...content(after) }).filter((k) => !known.has(k) && !same(k));
  if (other.length) parts.push(`${other.join(', ')} changed`);
  return parts.length ? `${parts.join('; ')}.` : 'No change to what is served.';
}

/**
 * Lines of `a` and `b` as a list of [op, line] with op ' ' (same), '-' (removed) or '+' (added), by the
 * longest common subsequence (configs are small: a few hundred lines at most).
 * @param {string[]} a @param {string[]} b
 * @returns {[' ' | '-' | '+', string][]}
 */
export function lineDiff(a, b) {
  const n = a.length;
  const m = b.length;
  const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  /** @type {[' ' | '-' | '+', string][]} */
  const out = [];
  let [i, j] = [0, 0];
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push([' ', a[i]]);
      i += 1;
      j += 1;
    } else if (table[i + 1][j] >= table[i][j + 1]) {
      out.push(['-', a[i]]);
      i += 1;
    } else {
      out.push(['+', b[j]]);
      j += 1;
    }
  }
  while (i < n) out.push(['-', a[i++]]);
  while (j < m) out.push(['+', b[j++]]);
  return out;
}

/**
 * The diff between a version and the one before it, as an element.
 * @param {any | null} before the previous config (null for the first version)
 * @param {any} after
 */
export function configDiff(before, after) {
  const lines = lineDiff(
    before ? JSON.stringify(content(before), null, 2).split('\n') : [],
    JSON.stringify(content(after), null, 2).split('\n'));
  const changed = lines.map(([op]) => op !== ' ');
  const near = (/** @type {number} */ i) => changed.slice(Math.max(0, i - CONTEXT), i + CONTEXT + 1).some(Boolean);
  /** @type {HTMLElement[]} */
  const rows = [];
  let folded = 0;
  const fold = () => {
    if (folded) rows.push(h('span', { class: 'diff-line fold' }, `  … ${folded} unchanged line${folded === 1 ? '' : 's'}\n`));
    folded = 0;
  };
  lines.forEach(([op, text], i) => {
    if (op === ' ' && !near(i)) {
      folded += 1;
      return;
    }
    fold();
    const cls = op === '+' ? 'add' : op === '-' ? 'del' : 'same';
    rows.push(h('span', { class: `diff-line ${cls}` }, `${op} ${text}\n`));
  });
  fold();
  const added = lines.filter(([op]) => op === '+').length;
  const removed = lines.filter(([op]) => op === '-').length;
  return h('div', { class: 'diff' },
    h('p', { class: 'diff-summary' }, summary(before, after), ' ', h('span', { class: 'hint' }, `${added} line${added === 1 ? '' : 's'} added, ${removed} removed.`)),
    h('pre', { class: 'diff-lines', 'aria-label': 'Changed lines: + added, − removed' }, rows));
}
