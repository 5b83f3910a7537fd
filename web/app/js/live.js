// The dashboard stream (`/api/v1/admin/stream`): changes made anywhere — another user, the API, a guard, the
// rollout scheduler — reach the open page without a reload. Pages subscribe with `onChange` / `onAudit`.
// A guard breach raises an alert whatever page is open.

import { h } from './dom.js';

/** @typedef {{environment: string, revision: number, kind: 'flag'|'segment'|'environment', key: string, op: string}} Change */
/** @typedef {{id: number, at: string, actor: string, action: string, resource: string, resource_key: string, flag?: string, environment?: string, version?: number, detail?: any}} Audit */

/** @type {Set<(c: Change) => void>} */
const changeListeners = new Set();
/** @type {Set<(a: Audit) => void>} */
const auditListeners = new Set();
/** @type {EventSource | null} */
let source = null;

/** Called for every change event; returns the unsubscribe function. @param {(c: Change) => void} fn */
export function onChange(fn) {
  changeListeners.add(fn);
  return () => changeListeners.delete(fn);
}

/** Called for every new audit row; returns the unsubscribe function. @param {(a: Audit) => void} fn */
export function onAudit(fn) {
  auditListeners.add(fn);
  return () => auditListeners.delete(fn);
}

/**
 * Opens the stream (EventSource reconnects by itself). `on.reconnected` runs when it is back after an
 * interruption (the page may have missed changes); `on.interrupted` when it breaks.
 * @param {{reconnected?: () => void, interrupted?: () => void}} [on]
 */
export function connect(on = {}) {
  if (source) return;
  const status = document.getElementById('live-status');
  source = new EventSource('/api/v1/admin/stream');
  let broken = false;
  source.addEventListener('open', () => {
    if (status) status.textContent = '';
    document.body.dataset.live = 'connected';
    if (broken) on.reconnected?.();
    broken = false;
  });
  source.addEventListener('error', () => {
    document.body.dataset.live = 'reconnecting';
    if (status) status.textContent = 'Live updates interrupted; reconnecting…';
    if (!broken) on.interrupted?.();
    broken = true;
  });
  source.addEventListener('change', (e) => {
    const change = JSON.parse(/** @type {MessageEvent} */ (e).data);
    changeListeners.forEach((fn) => fn(change));
  });
  source.addEventListener('audit', (e) => {
    const audit = JSON.parse(/** @type {MessageEvent} */ (e).data);
    if (audit.action === 'guard.breach') breachAlert(audit);
    auditListeners.forEach((fn) => fn(audit));
  });
}

/** Tells the pages that changes may have been missed (the stream was away): they reload what they show. */
export function missedChanges() {
  changeListeners.forEach((fn) => fn({ environment: '', revision: 0, kind: 'environment', key: '', op: 'reconnect' }));
}

export function disconnect() {
  source?.close();
  source = null;
  document.body.dataset.live = 'closed';
  const status = document.getElementById('live-status');
  if (status) status.textContent = '';
}

/**
 * Runs `fn` at most once per `ms` (trailing), so a burst of changes reloads a page once.
 * @param {() => void} fn @param {number} [ms]
 */
export function debounce(fn, ms = 150) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/**
 * A breach's numbers in a sentence, from the audit row's detail: `checkout_error rate 2% on on against 0.5% on
 * off (p = 0.0001); the flag was turned off`.
 * @param {any} d
 */
export function breachText(d) {
  if (!d?.metric) return '';
  const rate = d.statistic === 'rate';
  const value = (/** @type {number | null | undefined} */ v) => (v === null || v === undefined ? '?' : rate ? `${Number((v * 100).toPrecision(3))}%` : String(Number(v.toPrecision(4))));
  const arms = d.treatment ? ` ${value(d.treatment.value)} on ${d.treatment.variant}${d.control?.variant ? ` against ${value(d.control.value)} on ${d.control.variant}` : ''}` : '';
  const p = typeof d.p_value === 'number' ? ` (p = ${d.p_value < 0.0001 ? d.p_value.toExponential(1) : Number(d.p_value.toPrecision(2))})` : '';
  const done = d.action === 'halt_rollout' ? '; the rollout was halted' : d.action === 'disable_flag' ? '; the flag was turned off' : '';
  return `${d.metric}${d.statistic ? ` ${d.statistic}` : ''}${arms}${p}${done}`;
}

/** @param {Audit} audit */
function breachAlert(audit) {
  const [flag, env] = (audit.resource_key ?? '').split('/');
  const flagKey = audit.flag ?? flag;
  const envKey = audit.environment ?? env;
  const guard = audit.detail?.guard;
  const text = breachText(audit.detail);
  const alert = h('div', { class: 'alert alert-danger breach-alert', role: 'alert', dataset: { flag: flagKey, env: envKey } },
    h('strong', null, 'Guard breached: '),
    `${flagKey} in ${envKey}`, text ? ` — ${text}` : '', '. ',
    h('a', { href: `#/flags/${encodeURIComponent(flagKey)}/guards?env=${encodeURIComponent(envKey)}${guard !== undefined ? `&guard=${encodeURIComponent(guard)}` : ''}` }, 'See the evidence'),
    h('button', { type: 'button', class: 'button subtle', 'aria-label': 'Dismiss', onclick: () => alert.remove() }, '×'));
  document.getElementById('alerts')?.append(alert);
}
