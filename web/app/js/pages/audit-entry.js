// One audit log entry as a table row: when, who, what, on which object, the version it made; expanding it shows
// which fields changed, the object before and after, and any detail (e.g. a guard breach's evidence).

import { h, time } from '../dom.js';
import { auditSentence } from './sentences.js';

/** @param {string} s */
const enc = encodeURIComponent;

/** A link to the object the entry is about, when the dashboard has a page for it. @param {any} a */
function target(a) {
  const text = `${a.resource} ${a.resource_key}`;
  if (a.flag) {
    const env = a.environment ? `?env=${enc(a.environment)}` : '';
    return h('a', { href: `#/flags/${enc(a.flag)}${env}` }, text);
  }
  if (a.resource === 'segment') return h('a', { href: `#/segments/${enc(a.resource_key)}` }, text);
  if (a.resource === 'environment' || (a.resource === 'sdk_key' && a.environment)) {
    return h('a', { href: `#/environments/${enc(a.environment ?? a.resource_key)}` }, text);
  }
  return text;
}

/** Top-level fields whose value differs between before and after. @param {any} before @param {any} after */
export function changedFields(before, after) {
  if (!before || !after || typeof before !== 'object' || typeof after !== 'object') return [];
  const ignore = new Set(['version', 'updated_at', 'updated_by', 'revision']);
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => !ignore.has(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/** @param {string} title @param {any} value */
const json = (title, value) => h('div', { class: 'audit-json' }, h('h3', null, title), h('pre', { tabindex: 0 }, JSON.stringify(value, null, 2)));

/**
 * @param {any} a the entry
 * @param {boolean} [fresh] arrived live (highlighted)
 * @returns {HTMLElement[]} the row and its (hidden) detail row
 */
export function auditRows(a, fresh = false) {
  const hasMore = a.before !== undefined || a.after !== undefined || a.detail !== undefined;
  const changed = changedFields(a.before, a.after);
  const detailId = `audit-detail-${a.id}`;
  const detail = h('tr', { class: 'audit-detail', id: detailId, hidden: true },
    h('td', { colspan: 6 },
      changed.length ? h('p', null, 'Changed: ', changed.map((f, i) => [i ? ', ' : '', h('code', null, f)])) : null,
      h('div', { class: 'audit-compare' },
        a.before !== undefined ? json('Before', a.before) : null,
        a.after !== undefined ? json('After', a.after) : null,
        a.detail !== undefined && a.detail !== null ? json(a.action === 'guard.breach' ? 'Evidence' : 'Detail', a.detail) : null)));
  const toggle = hasMore ? h('button', {
    type: 'button',
    class: 'button small subtle',
    'aria-expanded': 'false',
    'aria-controls': detailId,
    'aria-label': `Details of entry ${a.id}`,
    onclick: () => {
      const open = detail.hidden;
      detail.hidden = !open;
      toggle?.setAttribute('aria-expanded', String(open));
      if (toggle) toggle.textContent = open ? 'Hide' : 'Show';
    },
  }, 'Show') : null;
  const row = h('tr', { class: fresh ? 'audit-row fresh' : 'audit-row', dataset: { id: String(a.id), action: a.action } },
    h('td', { class: 'when' }, h('time', { datetime: a.at }, time(a.at))),
    h('td', { class: 'who' }, a.actor),
    h('td', { class: 'action' }, h('span', { class: 'sentence' }, `${auditSentence(a)}.`),
      a.action === 'guard.breach' ? h('span', { class: 'badge danger' }, 'breach') : null,
      h('div', null, h('code', { class: 'hint' }, a.action))),
    h('td', { class: 'target' }, target(a), a.environment && !a.flag && a.resource !== 'environment' ? h('div', { class: 'hint' }, a.environment) : null),
    h('td', { class: 'version' }, a.version ?? '—'),
    h('td', null, toggle));
  return [row, detail];
}
