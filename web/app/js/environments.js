// The environments and which one the dashboard is looking at (kept across reloads).

import { api } from './api.js';

const STORAGE_KEY = 'pennon.environment';

/** @type {{key: string, name: string, production: boolean, revision: number, version: number}[]} */
let list = [];
/** @type {Set<() => void>} */
const listeners = new Set();

export const environments = {
  get list() {
    return list;
  },
  /** The selected environment's key ('' when there is none). */
  get current() {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && list.some((e) => e.key === saved)) return saved;
    return list[0]?.key ?? '';
  },
  /** The selected environment, or undefined. */
  get currentEnv() {
    return list.find((e) => e.key === this.current);
  },
  /** @param {string} key */
  byKey(key) {
    return list.find((e) => e.key === key);
  },
  /** Selects an environment; the URL of a page that shows one says which (`?env=`). @param {string} key */
  select(key) {
    localStorage.setItem(STORAGE_KEY, key);
    markUrl(key);
    listeners.forEach((fn) => fn());
  },
  /** Puts the selected environment in the URL of a page that shows one, without drawing it again. */
  markUrl() {
    markUrl(this.current);
  },
  async reload() {
    const answer = await api.get('/environments');
    list = answer.items ?? answer;
    markUrl(this.current);
    listeners.forEach((fn) => fn());
    return list;
  },
  /** Called whenever the list or the selection changes. @param {() => void} fn */
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};

/** Pages that show one environment: the flags list and a flag's tabs. */
const SHOWS_ENVIRONMENT = /^\/flags(\/(?!new$)[^/?]+(\/(plan|guards|history))?)?$/;

/** Sets `?env=` in the fragment of a page that shows an environment (history entry replaced). @param {string} key */
function markUrl(key) {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  if (!key || !SHOWS_ENVIRONMENT.test(path)) return;
  const params = new URLSearchParams(query);
  if (params.get('env') === key) return;
  params.set('env', key);
  history.replaceState(history.state, '', `#${path}?${params}`);
}
