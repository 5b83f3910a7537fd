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
  /** @param {string} key */
  select(key) {
    localStorage.setItem(STORAGE_KEY, key);
    listeners.forEach((fn) => fn());
  },
  async reload() {
    const answer = await api.get('/environments');
    list = answer.items ?? answer;
    listeners.forEach((fn) => fn());
    return list;
  },
  /** Called whenever the list or the selection changes. @param {() => void} fn */
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};
