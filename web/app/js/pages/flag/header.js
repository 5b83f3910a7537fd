// The head of every flag page: name, key, kind, tags, the environment shown, and the tabs.

import { api, seg } from '../../api.js';
import { h } from '../../dom.js';
import { environments } from '../../environments.js';

const TABS = [
  ['', 'Targeting'],
  ['/plan', 'Rollout plan'],
  ['/guards', 'Guards'],
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
 * @param {any} flag the FlagDetail
 * @param {string} active the tab's path suffix: '', '/plan', '/guards' or '/history'
 * @param {string} env the environment shown
 */
export function flagHeader(flag, active, env) {
  const environment = environments.byKey(env);
  return h('header', { class: 'flag-head' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/flags' }, 'Flags'), ' / '),
    h('h1', null, flag.name || flag.key,
      h('span', { class: 'badge' }, flag.kind),
      flag.archived ? h('span', { class: 'badge warn' }, 'archived') : null),
    h('p', { class: 'key' }, flag.key, flag.tags.length ? ' · ' : '', flag.tags.map((/** @type {string} */ t) => h('span', { class: 'tag' }, t))),
    flag.description ? h('p', null, flag.description) : null,
    h('p', { class: 'env-line' }, 'Environment: ', h('strong', null, environment?.name ?? env),
      environment?.production ? h('span', { class: 'badge danger' }, 'production') : null),
    h('nav', { class: 'tabs', 'aria-label': 'Flag' },
      TABS.map(([suffix, label]) => h('a', {
        href: `#/flags/${seg(flag.key)}${suffix}`,
        'aria-current': suffix === active ? 'page' : null,
      }, label))));
}
