// The audit log: who changed what, when. Filters (flag, environment, actor, time range) live in the URL;
// "Older" follows next_cursor; new entries that pass the filters appear at the top as they happen.

import { api } from '../api.js';
import { field, h, replace } from '../dom.js';
import { environments } from '../environments.js';
import { showError } from '../forms.js';
import { onAudit } from '../live.js';
import { navigate } from '../router.js';
import { auditRows } from './audit-entry.js';

const PAGE = 50;

/** A `datetime-local` value as RFC 3339 ('' stays ''). @param {string} local */
const rfc3339 = (local) => {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
};

/** @type {import('../router.js').Page} */
export async function auditPage(view, _params, query) {
  const q = (/** @type {string} */ k) => query.get(k) ?? '';
  const flag = h('input', { name: 'flag', value: q('flag'), placeholder: 'Any flag', autocomplete: 'off' });
  const env = h('select', { name: 'environment' },
    h('option', { value: '' }, 'Any environment'),
    environments.list.map((e) => h('option', { value: e.key, selected: e.key === q('environment') }, e.name)));
  const actor = h('input', { name: 'actor', value: q('actor'), placeholder: 'e.g. user:ada@example.com', autocomplete: 'off' });
  const since = h('input', { type: 'datetime-local', name: 'since', value: q('since') });
  const until = h('input', { type: 'datetime-local', name: 'until', value: q('until') });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
    field('Flag', flag, { path: 'flag' }),
    field('Environment', env, { path: 'environment' }),
    field('Actor', actor, { path: 'actor' }),
    field('From', since, { path: 'since' }),
    field('Until', until, { path: 'until' }),
    h('button', { type: 'submit', class: 'button' }, 'Filter'),
    h('a', { class: 'button subtle', href: '#/audit' }, 'Clear'));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const el of [flag, env, actor, since, until]) {
      const input = /** @type {HTMLInputElement} */ (el);
      if (input.value.trim()) params.set(input.name, input.value.trim());
    }
    navigate(`/audit${params.size ? `?${params}` : ''}`);
  });

  const body = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'audit' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'When'),
      h('th', { scope: 'col' }, 'Who'),
      h('th', { scope: 'col' }, 'What happened'),
      h('th', { scope: 'col' }, 'Target'),
      h('th', { scope: 'col' }, 'Version'),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Details')))),
    body));
  const empty = h('p', { class: 'empty', hidden: true }, 'No entries match.');
  const more = h('div', { class: 'more' });
  replace(view, h('h1', null, 'Audit log'), filters, table, empty, more);

  const filter = {
    flag: q('flag'),
    environment: q('environment'),
    actor: q('actor'),
    since: rfc3339(q('since')),
    until: rfc3339(q('until')),
  };
  /** @type {Set<number>} */
  const shown = new Set();
  /** @param {any[]} items @param {'append'|'prepend'} where @param {boolean} [fresh] */
  const add = (items, where, fresh = false) => {
    // A plan's step is one row: the plan's own entry (plan.advance ...) says it; the config change the step
    // made (config.plan.advance ...) is the same event and shows in the flag's History.
    const rows = items.filter((a) => !shown.has(a.id) && !String(a.action).startsWith('config.plan.')).flatMap((a) => {
      shown.add(a.id);
      return auditRows(a, fresh);
    });
    if (where === 'append') body.append(...rows);
    else body.prepend(...rows);
    empty.hidden = shown.size > 0;
  };
  /** @param {string | undefined} cursor */
  const loadPage = async (cursor) => {
    try {
      const page = await api.get('/audit', { ...filter, cursor, limit: PAGE });
      add(page.items, 'append');
      replace(more, page.next_cursor
        ? h('button', { type: 'button', class: 'button', onclick: () => void loadPage(page.next_cursor) }, 'Older')
        : shown.size ? h('p', { class: 'hint' }, 'That is the beginning of the log.') : null);
    } catch (e) {
      showError(filters, e);
    }
  };
  await loadPage(undefined);

  /** Whether a new entry passes the filters. @param {any} a */
  const passes = (a) => (!filter.flag || a.flag === filter.flag)
    && (!filter.environment || a.environment === filter.environment)
    && (!filter.actor || a.actor === filter.actor)
    && (!filter.since || Date.parse(a.at) >= Date.parse(filter.since))
    && (!filter.until || Date.parse(a.at) < Date.parse(filter.until));
  return onAudit((a) => {
    if (passes(a)) add([a], 'prepend', true);
  });
}
