// Routing by the URL fragment: `#/flags/new-checkout` → the page registered for `/flags/:flag`.
// A page is `async (view, params) => cleanup?`; the cleanup runs when the next page replaces it. `?env=` in
// the fragment selects the environment; each page gets a title from its heading (and tab, and environment).

import { environments } from './environments.js';

/** @typedef {(view: HTMLElement, params: Record<string, string>, query: URLSearchParams) => Promise<(() => void) | void>} Page */

/** @type {{parts: string[], page: Page, nav?: string}[]} */
const routes = [];
/** @type {(() => void) | void} */
let cleanup;
/** Counts renders, so that a page still loading when the next one starts cannot install its cleanup late. */
let generation = 0;

/**
 * @param {string} pattern e.g. `/flags/:flag`
 * @param {Page} page
 */
export function route(pattern, page) {
  routes.push({ parts: pattern.split('/').filter(Boolean), page });
}

/** @param {string} path e.g. `/flags` */
export function navigate(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
}

/** The current path and query, from the fragment. */
export function current() {
  const raw = location.hash.replace(/^#/, '') || '/flags';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

/** Renders the page for the current fragment into `#view`. */
export async function render() {
  const { path, query } = current();
  const parts = path.split('/').filter(Boolean);
  // Each render writes into an element of its own: a page still loading when the next one starts would
  // otherwise draw itself over the newer page when its data arrives.
  const view = document.createElement('div');
  // Until the page draws itself, it says it is loading.
  const loading = document.createElement('p');
  loading.className = 'loading';
  loading.setAttribute('role', 'status');
  loading.textContent = 'Loading…';
  view.append(loading);
  /** @type {HTMLElement} */ (document.getElementById('view')).replaceChildren(view);
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  generation += 1;
  const mine = generation;
  for (const r of routes) {
    if (r.parts.length !== parts.length) continue;
    /** @type {Record<string, string>} */
    const params = {};
    const ok = r.parts.every((p, i) => {
      if (p.startsWith(':')) {
        params[p.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return p === parts[i];
    });
    if (!ok) continue;
    document.dispatchEvent(new CustomEvent('pennon:navigate', { detail: { path } }));
    const named = query.get('env');
    if (named && environments.byKey(named) && named !== environments.current) environments.select(named);
    else environments.markUrl();
    document.title = 'Pennon';
    const done = await r.page(view, params, query);
    if (mine === generation) document.title = title(view, path);
    // Another page started meanwhile: this one's subscriptions end now instead of outliving it.
    if (mine !== generation) {
      if (typeof done === 'function') done();
    } else {
      cleanup = done;
    }
    return;
  }
  view.textContent = '';
  document.title = 'Not found — Pennon';
  const h1 = document.createElement('h1');
  h1.textContent = 'Not found';
  const p = document.createElement('p');
  p.textContent = `Nothing lives at ${path}.`;
  view.append(h1, p);
}

/**
 * A page's title: its heading, the flag tab open, and the environment where the page shows one — e.g.
 * `checkout · Rollout plan · Staging — Pennon`.
 * @param {HTMLElement} view @param {string} path
 */
function title(view, path) {
  const text = (/** @type {Element | null} */ el) => (el?.firstChild?.textContent ?? el?.textContent ?? '').trim();
  const parts = [text(view.querySelector('h1'))];
  const tab = view.querySelector('.tabs [aria-current="page"]');
  if (tab) parts.push(text(tab));
  if (path.startsWith('/flags') && path !== '/flags/new') parts.push(environments.currentEnv?.name ?? '');
  return `${parts.filter(Boolean).join(' · ') || 'Pennon'} — Pennon`;
}

/** Titles the page again (after the environment shown changed). */
export function retitle() {
  const view = document.querySelector('#view > div');
  if (view instanceof HTMLElement) document.title = title(view, current().path);
}
