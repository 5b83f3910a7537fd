// The flags list: search, tag filter, each flag's state in every environment with a quick toggle, when it was
// last evaluated and whether it is a cleanup candidate (with a filter for those). One request
// (`GET /flags?environments=true`) brings a page of up to 500 flags with their state everywhere.

import { api, ApiError, seg } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { environments } from '../environments.js';
import { confirmDialog, showError } from '../forms.js';
import { debounce, onAudit, onChange } from '../live.js';
import { session } from '../session.js';
import { serveSummary, stateCells } from './flag-state.js';

/** Flags per request: the API's largest page. */
const PAGE = 500;

/** What each cleanup reason is called in the list, and what it means. */
const CLEANUP_LABEL = /** @type {Record<string, string>} */ ({ unused: 'unused', rolled_out: 'rolled out' });
const CLEANUP_HINT = /** @type {Record<string, string>} */ ({
  unused: 'Not evaluated in any environment for the stale period: a candidate for removal',
  rolled_out: 'Serves one variant to everyone in every environment, unchanged for the stale period: the code can keep that path only',
});

/** @type {import('../router.js').Page} */
export async function flagsPage(view, _params, query) {
  const q = h('input', { type: 'search', name: 'q', value: query.get('q') ?? '', placeholder: 'Key, name, tag or description' });
  const tag = h('input', { type: 'text', name: 'tag', value: query.get('tag') ?? '', placeholder: 'Any tag' });
  const archived = h('input', { type: 'checkbox', name: 'archived', checked: query.get('archived') === 'include' || query.get('archived') === 'true' });
  const status = h('select', { name: 'status' },
    [['', 'All flags'], ['stale', 'Cleanup candidates'], ['unused', 'Not evaluated lately'], ['rolled_out', 'Rolled out everywhere']]
      .map(([value, label]) => h('option', { value, selected: (query.get('status') ?? '') === value }, label)));
  const table = h('div', { class: 'table-wrap', 'aria-busy': 'true' }, h('p', { class: 'loading', role: 'status' }, 'Loading flags…'));
  const more = h('div', { class: 'more' });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter flags' },
    field('Search', q), field('Tag', tag), field('Show', status),
    h('label', { class: 'check' }, archived, ' Include archived'),
    h('button', { type: 'submit', class: 'button' }, 'Filter'));
  const filter = { q: query.get('q') ?? '', tag: query.get('tag') ?? '', archived: archived.checked ? 'include' : '', status: query.get('status') ?? '', environments: true };
  const [sortBy, sortDir] = (query.get('sort') ?? 'key-asc').split('-');
  const sort = { by: sortBy === 'changed' ? 'changed' : 'key', dir: sortDir === 'desc' ? 'desc' : 'asc' };
  /** The filters and sort in the URL, without drawing the page again. */
  const remember = () => {
    const params = new URLSearchParams();
    if (filter.q) params.set('q', filter.q);
    if (filter.tag) params.set('tag', filter.tag);
    if (filter.archived) params.set('archived', filter.archived);
    if (filter.status) params.set('status', filter.status);
    if (sort.by !== 'key' || sort.dir !== 'asc') params.set('sort', `${sort.by}-${sort.dir}`);
    if (environments.current) params.set('env', environments.current);
    history.replaceState(null, '', `#/flags${params.size ? `?${params}` : ''}`);
  };
  const apply = () => {
    filter.q = /** @type {HTMLInputElement} */ (q).value.trim();
    filter.tag = /** @type {HTMLInputElement} */ (tag).value.trim();
    filter.archived = /** @type {HTMLInputElement} */ (archived).checked ? 'include' : '';
    filter.status = /** @type {HTMLSelectElement} */ (status).value;
    remember();
    flags = [];
    void load();
  };
  // Search as you type: a pause in typing asks again.
  const typed = debounce(apply, 250);
  q.addEventListener('input', typed);
  tag.addEventListener('input', typed);
  archived.addEventListener('change', apply);
  status.addEventListener('change', apply);
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });
  replace(view,
    h('div', { class: 'page-head' },
      h('h1', null, 'Flags'),
      session.can('editor') ? h('a', { class: 'button primary', href: '#/flags/new' }, 'New flag') : null),
    filters, table, more);

  /** @type {any[]} */
  let flags = [];
  /** @type {string | undefined} */
  let cursor;
  /** One page after `after`. @param {string | undefined} after */
  const fetchPage = (after) => api.get('/flags', { ...filter, limit: PAGE, cursor: after });
  const draw = () => {
    drawTable(table, sorted(flags, sort), load, sort, (/** @type {'key' | 'changed'} */ by) => {
      sort.dir = sort.by === by && sort.dir === 'asc' ? 'desc' : sort.by !== by && by === 'changed' ? 'desc' : 'asc';
      sort.by = by;
      remember();
      draw();
      /** @type {HTMLElement | null} */ (table.querySelector(`[data-sort="${by}"]`))?.focus();
    });
    table.setAttribute('aria-busy', 'false');
    replace(more, cursor ? h('button', { type: 'button', class: 'button', onclick: loadMore }, 'Load more flags') : null);
  };
  /** Counts loads, so that an answer to an older search cannot replace a newer one. */
  let loads = 0;
  const load = async () => {
    loads += 1;
    const mine = loads;
    try {
      // As many flags as were shown before stay in view.
      const shown = Math.max(flags.length, 1);
      const page = await fetchPage(undefined);
      /** @type {any[]} */
      let items = page.items;
      cursor = page.next_cursor;
      while (items.length < shown && cursor) {
        const next = await fetchPage(cursor);
        items = [...items, ...next.items];
        cursor = next.next_cursor;
      }
      if (mine !== loads) return;
      flags = items;
      draw();
    } catch (e) {
      table.setAttribute('aria-busy', 'false');
      replace(table, loadError(`Could not load flags: ${e instanceof Error ? e.message : e}`));
    }
  };
  const loadMore = async (/** @type {Event} */ e) => {
    const button = /** @type {HTMLButtonElement} */ (e.currentTarget);
    button.disabled = true;
    button.textContent = 'Loading…';
    try {
      const page = await fetchPage(cursor);
      flags = [...flags, ...page.items];
      cursor = page.next_cursor;
      draw();
    } catch (err) {
      showError(more, err);
    }
  };
  await load();
  const reload = debounce(load);
  const stopLive = onChange((c) => {
    if (c.kind === 'flag' || c.kind === 'environment') reload();
  });
  // Guard state changes and plan moves arrive as audit rows.
  const stopAudit = onAudit((a) => {
    if (a.resource === 'plan' || a.resource === 'guard' || a.action.startsWith('guard.')) reload();
  });
  const stopEnv = environments.onChange(reload);
  return () => {
    stopLive();
    stopAudit();
    stopEnv();
  };
}

/**
 * The flags in the order asked for: by key, or by last change (the newest first when descending).
 * @param {any[]} flags @param {{by: string, dir: string}} sort
 */
function sorted(flags, sort) {
  /** @param {any} a @param {any} b */
  const byKey = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  // Times are compared as instants: RFC 3339 text drops trailing zeros of the fraction (`…:09.1Z` is before
  // `…:09.12Z` but sorts after it as text).
  /** @param {any} f */
  const at = (f) => Date.parse(f.changed_at ?? f.updated_at ?? '') || 0;
  const out = [...flags].sort(sort.by === 'changed' ? (a, b) => at(a) - at(b) || byKey(a, b) : byKey);
  return sort.dir === 'desc' ? out.reverse() : out;
}

/**
 * A time as people say it: `just now`, `5 min ago`, `3 h ago`, `2 days ago`, else the date. A time known only to
 * the minute (`last_seen` is stored as the start of its minute) is taken as that minute's end, so an evaluation
 * made seconds ago does not read as `1 min ago`.
 * @param {string} when @param {number} [precision] seconds the time may be early by
 */
export function ago(when, precision = 0) {
  const seconds = (Date.now() - Date.parse(when)) / 1000 - precision;
  if (!Number.isFinite(seconds)) return when;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 86400 * 30) return `${Math.floor(seconds / 86400)} day${seconds < 86400 * 2 ? '' : 's'} ago`;
  return new Date(when).toLocaleDateString();
}

/**
 * @param {HTMLElement} table
 * @param {any[]} flags list items: the definition plus `environments` (the state by environment key)
 * @param {() => Promise<void>} reload
 * @param {{by: string, dir: string}} sort
 * @param {(by: 'key' | 'changed') => void} sortBy
 */
function drawTable(table, flags, reload, sort, sortBy) {
  if (!flags.length) {
    replace(table, h('p', { class: 'empty' }, 'No flags match.'));
    return;
  }
  const envs = environments.list;
  const current = environments.current;
  replace(table, h('table', { class: 'flags' },
    h('thead', null, h('tr', null,
      sortable('Flag', 'key', sort, sortBy),
      h('th', { scope: 'col' }, 'Tags'),
      sortable('Last changed', 'changed', sort, sortBy),
      h('th', { scope: 'col' }, 'Last seen'),
      envs.map((e) => h('th', { scope: 'col', class: e.key === current ? 'current-env' : null }, e.name)))),
    h('tbody', null, flags.map((flag) => h('tr', { dataset: { flag: flag.key } },
      h('th', { scope: 'row' },
        h('a', { href: `#/flags/${seg(flag.key)}` }, flag.name || flag.key),
        flag.name && flag.name !== flag.key ? h('div', { class: 'key' }, flag.key) : null,
        flag.archived ? h('span', { class: 'badge' }, 'archived') : null,
        (flag.cleanup ?? []).map((/** @type {string} */ c) => h('span', { class: 'badge warn cleanup', dataset: { cleanup: c },
          title: CLEANUP_HINT[c] ?? '' }, CLEANUP_LABEL[c] ?? c))),
      h('td', null, flag.tags.map((/** @type {string} */ t) => h('a', { class: 'tag', href: `#/flags?tag=${encodeURIComponent(t)}` }, t))),
      h('td', { class: 'changed' }, flag.changed_at ? h('time', { datetime: flag.changed_at, title: time(flag.changed_at) }, ago(flag.changed_at)) : '—'),
      h('td', { class: 'last-seen' }, flag.last_seen
        ? h('time', { datetime: flag.last_seen, title: `Last evaluated ${time(flag.last_seen)}` }, ago(flag.last_seen, 60))
        : h('span', { class: 'hint', title: 'Not evaluated by the server or an SDK yet' }, 'never')),
      envs.map((env) => envCell(flag, env, reload)))))));
}

/**
 * A column head that sorts the list, saying how it is sorted now.
 * @param {string} label @param {'key' | 'changed'} by @param {{by: string, dir: string}} sort @param {(by: 'key' | 'changed') => void} sortBy
 */
function sortable(label, by, sort, sortBy) {
  const active = sort.by === by;
  return h('th', { scope: 'col', 'aria-sort': active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none' },
    h('button', { type: 'button', class: 'sort', dataset: { sort: by }, onclick: () => sortBy(by) },
      label, h('span', { 'aria-hidden': 'true' }, active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ' ↕')));
}

/** @param {any} flag @param {any} env @param {() => Promise<void>} reload */
function envCell(flag, env, reload) {
  const state = flag.environments?.[env.key];
  const cell = h('td', { class: env.key === environments.current ? 'current-env' : null, dataset: { env: env.key } });
  if (!state) {
    replace(cell, '—');
    return cell;
  }
  const canToggle = session.can('editor') && !flag.archived;
  const toggle = /** @type {HTMLButtonElement} */ (h('button', {
    type: 'button',
    class: `switch ${state.enabled ? 'on' : 'off'}`,
    role: 'switch',
    'aria-checked': String(state.enabled),
    'aria-label': `${flag.key} in ${env.name}`,
    disabled: !canToggle,
    onclick: async () => {
      // Disabled at once, so that a second quick click sends nothing.
      if (toggle.getAttribute('aria-busy') === 'true') return;
      toggle.disabled = true;
      toggle.setAttribute('aria-busy', 'true');
      const enable = !state.enabled;
      if (env.production && !(await confirmDialog(`Turn ${flag.key} ${enable ? 'on' : 'off'} in ${env.name}, a production environment?`))) {
        toggle.disabled = false;
        toggle.removeAttribute('aria-busy');
        return;
      }
      try {
        await api.post(`/flags/${seg(flag.key)}/environments/${seg(env.key)}/toggle`, { enabled: enable }, state.version);
        await reload();
      } catch (e) {
        showError(cell, e instanceof ApiError && e.status === 409 ? new Error('Changed meanwhile; reloaded.') : e);
        await reload();
      }
    },
  }, h('span', { class: 'visually-hidden' }, state.enabled ? 'On' : 'Off')));
  replace(cell, h('div', { class: 'env-state' }, toggle, h('span', { class: 'serve' }, serveSummary(flag, state)), stateCells(flag.key, env.key, state)));
  return cell;
}
