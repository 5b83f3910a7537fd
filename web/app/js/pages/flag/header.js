// The head of every flag page: name, key, kind, tags, the environment shown, and the tabs.

import { api, seg } from '../../api.js';
import { h, replace, time } from '../../dom.js';
import { environments } from '../../environments.js';
import { ago } from '../flags.js';
import { openRequests } from './approvals.js';

const TABS = [
  ['', 'Targeting'],
  ['/plan', 'Rollout plan'],
  ['/guards', 'Guards'],
  ['/results', 'Results'],
  ['/triggers', 'Triggers'],
  ['/history', 'History'],
];

/**
 * The environment a flag page shows: `?env=` when the link names one (e.g. from a breach alert; it also
 * becomes the selection), else the top bar's selection.
 * @param {URLSearchParams} query
 */
export function pageEnvironment(query) {
  const named = query.get('env');
  if (named && environments.byKey(named) && named !== environments.current) environments.select(named);
  return environments.current;
}

/** Loads the flag definition with its config in every environment. @param {string} key */
export const loadFlag = (key) => api.get(`/flags/${seg(key)}`);

/**
 * Where the flag's rollout plan and guards stand in an environment: `{plan, guards}` (plan null when it has
 * none). Two small requests; a failure leaves them out rather than failing the page.
 * @param {string} flag @param {string} env
 * @returns {Promise<{plan: any | null, guards: any[]}>}
 */
export async function loadDelivery(flag, env) {
  const base = `/flags/${seg(flag)}/environments/${seg(env)}`;
  const [plan, guards] = await Promise.all([
    api.get(`${base}/rollout-plan`).catch(() => null),
    api.get(`${base}/guards`).then((p) => p.items ?? []).catch(() => []),
  ]);
  return { plan, guards };
}

/**
 * The Rollout plan tab's badge: the plan's state while it is under way (or halted), else nothing.
 * @param {Element} badge the tab's `.tab-badge` @param {any | null} plan
 */
export function markPlanTab(badge, plan) {
  replace(badge, plan && ['running', 'paused', 'halted'].includes(plan.state) ? h('span', { class: `badge ${plan.state}` }, plan.state) : null);
}

/** Badges of the Rollout plan and Guards tabs. @param {Element} tabs @param {{plan: any | null, guards: any[]}} delivery */
function markTabs(tabs, delivery) {
  const planTab = tabs.querySelector('[data-tab="/plan"] .tab-badge');
  if (planTab) markPlanTab(planTab, delivery.plan);
  markGuardsTab(tabs, delivery.guards);
}

/**
 * The Guards tab's badge: how many guards are breached, or nothing. Pages that keep their guards current
 * (the Guards tab) call it again with every fresh list, so a breach while the page is open shows at once.
 * @param {Element} tabs the header's `.tabs` (or anything holding it) @param {any[]} guards
 */
export function markGuardsTab(tabs, guards) {
  const guardsTab = tabs.querySelector('[data-tab="/guards"] .tab-badge');
  const breached = guards.filter((g) => g.state === 'breached').length;
  if (guardsTab) replace(guardsTab, breached ? h('span', { class: 'badge breached' }, `${breached} breached`) : null);
}

/**
 * @param {any} flag the FlagDetail
 * @param {string} active the tab's path suffix: '', '/plan', '/guards', '/results', '/triggers' or '/history'
 * @param {string} env the environment shown
 * @param {{plan: any | null, guards: any[]}} [delivery] the plan and guards when the page has them (else fetched)
 * @param {any[]} [requests] the change requests open here when the page has them (else fetched)
 */
export function flagHeader(flag, active, env, delivery, requests) {
  const environment = environments.byKey(env);
  const at = env ? `?env=${encodeURIComponent(env)}` : '';
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Flag' },
    TABS.map(([suffix, label]) => h('a', {
      href: `#/flags/${seg(flag.key)}${suffix}${at}`,
      'aria-current': suffix === active ? 'page' : null,
      dataset: { tab: suffix },
    }, label, h('span', { class: 'tab-badge' }))));
  if (delivery) markTabs(tabs, delivery);
  else if (env) void loadDelivery(flag.key, env).then((d) => markTabs(tabs, d));
  const waiting = h('span', { class: 'env-requests' });
  if (requests) markRequests(waiting, requests, env);
  else if (env) void openRequests(flag.key, env).then((r) => markRequests(waiting, r, env));
  return h('header', { class: 'flag-head' },
    h('p', { class: 'crumbs' }, h('a', { href: `#/flags${at}` }, 'Flags'), ' / '),
    h('h1', null, flag.name || flag.key,
      h('span', { class: 'badge' }, flag.kind),
      flag.archived ? h('span', { class: 'badge warn' }, 'archived') : null,
      (flag.usage?.cleanup ?? []).map((/** @type {string} */ c) =>
        h('span', { class: 'badge warn cleanup', dataset: { cleanup: c } }, c === 'rolled_out' ? 'rolled out' : c))),
    h('p', { class: 'key' }, flag.key, flag.tags.length ? ' · ' : '', flag.tags.map((/** @type {string} */ t) => h('span', { class: 'tag' }, t))),
    flag.description ? h('p', null, flag.description) : null,
    h('p', { class: 'env-line' }, 'Environment: ', h('strong', null, environment?.name ?? env),
      environment?.production ? h('span', { class: 'badge danger' }, 'production') : null,
      ' · ', lastSeen(flag.usage?.environments?.[env]), waiting),
    tabs);
}

/**
 * The badge of the change requests open for the flag in the environment shown (nothing when none).
 * @param {HTMLElement} slot @param {any[]} requests @param {string} env
 */
function markRequests(slot, requests, env) {
  const n = requests.length;
  replace(slot, n ? [' · ', h('a', { href: `#/change-requests?environment=${encodeURIComponent(env)}&flag=${encodeURIComponent(requests[0].flag)}` },
    h('span', { class: 'badge pending' }, `${n} change request${n === 1 ? '' : 's'} open`))] : null);
}

/**
 * When the flag was last evaluated in the environment shown, and how often lately.
 * @param {{last_seen: string | null, evaluations_24h: number, evaluations_7d: number} | undefined} usage
 */
function lastSeen(usage) {
  if (!usage?.last_seen) return h('span', { class: 'last-seen hint' }, 'never evaluated here');
  return h('span', { class: 'last-seen' }, 'last evaluated ',
    h('time', { datetime: usage.last_seen, title: time(usage.last_seen) }, ago(usage.last_seen, 60)),
    ` · ${usage.evaluations_24h} in 24 h, ${usage.evaluations_7d} in 7 days`);
}
