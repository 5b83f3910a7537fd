// The change requests (`#/change-requests`): config changes proposed where approvals are required, newest
// first, filtered by state (open by default: pending or stale), environment and flag in the URL. Each row names the
// flag, environment, author, age, approvals so far against those required, and state; it opens the request.
// New requests and decisions made elsewhere reload the list.

import { api, ApiError, seg } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { environments } from '../environments.js';
import { showError } from '../forms.js';
import { debounce, onAudit } from '../live.js';
import { navigate } from '../router.js';
import { ago } from './flags.js';
import { OPEN_STATES, requestHref } from './flag/approvals.js';
import { who } from './sentences.js';

const PAGE = 50;

/** The state filter's choices: [value, label]; `open` is pending and stale together, `all` is no filter. */
const STATES = [
  ['open', 'Open (pending or stale)'],
  ['pending', 'Pending'],
  ['stale', 'Stale'],
  ['applied', 'Applied'],
  ['rejected', 'Rejected'],
  ['cancelled', 'Cancelled'],
  ['all', 'All'],
];

/** A request's state as a badge (`stale` says what it needs). @param {any} r */
export function stateBadge(r) {
  const cls = { pending: 'pending', stale: 'danger', applied: 'ok', rejected: 'danger', cancelled: '' }[/** @type {string} */ (r.state)] ?? '';
  return h('span', { class: `badge request-state ${cls}`, dataset: { state: r.state } }, r.state);
}

/** @type {import('../router.js').Page} */
export async function changeRequestsPage(view, _params, query) {
  const state = STATES.some(([v]) => v === query.get('state')) ? /** @type {string} */ (query.get('state')) : 'open';
  const envKey = query.get('environment') ?? '';
  const flagKey = query.get('flag') ?? '';
  const flagInput = h('input', { name: 'flag', value: flagKey, placeholder: 'Any flag', autocomplete: 'off' });
  const stateSelect = h('select', { name: 'state' },
    STATES.map(([value, label]) => h('option', { value, selected: value === state }, label)));
  const envSelect = h('select', { name: 'environment' },
    h('option', { value: '' }, 'Any environment'),
    environments.list.map((e) => h('option', { value: e.key, selected: e.key === envKey }, e.name)));
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the change requests' },
    field('State', stateSelect, { path: 'state' }),
    field('Environment', envSelect, { path: 'environment' }),
    field('Flag', flagInput, { path: 'flag' }));
  // Choosing a filter applies it at once (the URL keeps it).
  const apply = () => {
    const params = new URLSearchParams();
    const s = /** @type {HTMLSelectElement} */ (stateSelect).value;
    const e = /** @type {HTMLSelectElement} */ (envSelect).value;
    if (s !== 'open') params.set('state', s);
    const f = /** @type {HTMLInputElement} */ (flagInput).value.trim();
    if (e) params.set('environment', e);
    if (f) params.set('flag', f);
    navigate(`/change-requests${params.size ? `?${params}` : ''}`);
  };
  filters.addEventListener('change', apply);
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });

  const body = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'change-requests' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Request'),
      h('th', { scope: 'col' }, 'Flag'),
      h('th', { scope: 'col' }, 'Environment'),
      h('th', { scope: 'col' }, 'Author'),
      h('th', { scope: 'col' }, 'Age'),
      h('th', { scope: 'col' }, 'Approvals'),
      h('th', { scope: 'col' }, 'State'))),
    body));
  const empty = h('p', { class: 'empty', hidden: true }, state === 'open' ? 'No change request waits.' : 'No change requests match.');
  const more = h('div', { class: 'more' });
  const status = h('div');
  replace(view, h('h1', null, 'Change requests'),
    h('p', { class: 'hint' }, 'Config changes proposed in environments that require approvals. Another editor or an admin approves or rejects them; the approval that reaches the number required applies the change.'),
    filters, status, table, empty, more);

  /** @param {any} r */
  const row = (r) => h('tr', { dataset: { request: String(r.id), state: r.state } },
    h('th', { scope: 'row' }, h('a', { href: requestHref(r) }, `#${r.id}`)),
    h('td', null, h('a', { href: `#/flags/${seg(r.flag)}?env=${seg(r.environment)}` }, r.flag)),
    h('td', null, environments.byKey(r.environment)?.name ?? r.environment),
    h('td', null, who(r.author)),
    h('td', null, h('time', { datetime: r.created_at, title: time(r.created_at) }, ago(r.created_at))),
    h('td', { class: 'approvals' }, `${r.approvals.length} / ${r.approvals_required}`),
    h('td', null, stateBadge(r)));

  const base = { environment: envKey || undefined, flag: flagKey || undefined, limit: PAGE };
  /** @param {string | undefined} cursor */
  const loadPage = async (cursor) => {
    try {
      if (state === 'open') {
        // Two states, no paging: open requests are few (the server caps them per flag and environment).
        const pages = await Promise.all(OPEN_STATES.map((s) => api.get('/change-requests', { ...base, state: s, limit: 500 })));
        const items = pages.flatMap((p) => p.items).sort((a, b) => b.id - a.id);
        replace(body, items.map(row));
        replace(more);
        empty.hidden = items.length > 0;
        return;
      }
      const page = await api.get('/change-requests', { ...base, state: state === 'all' ? undefined : state, cursor });
      if (cursor) body.append(...page.items.map(row));
      else replace(body, page.items.map(row));
      empty.hidden = body.childElementCount > 0;
      replace(more, page.next_cursor
        ? h('button', { type: 'button', class: 'button', onclick: () => void loadPage(page.next_cursor) }, 'Older')
        : null);
    } catch (e) {
      // A filter the server refuses is named at its field; anything else offers a retry.
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) showError(filters, e);
      else replace(status, loadError(`Could not load the change requests: ${e instanceof Error ? e.message : e}`));
    }
  };
  await loadPage(undefined);
  const reload = debounce(() => void loadPage(undefined));
  return onAudit((a) => {
    if (a.resource === 'change_request') reload();
  });
}
