// The flags list (search, tag filter, each flag's state in every environment, a quick toggle) and the new-flag form.

import { api, ApiError, seg } from '../api.js';
import { field, h, replace } from '../dom.js';
import { environments } from '../environments.js';
import { confirmDialog, showError } from '../forms.js';
import { debounce, onAudit, onChange } from '../live.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { serveSummary, stateCells } from './flag-state.js';

/** @type {import('../router.js').Page} */
export async function flagsPage(view, _params, query) {
  const q = h('input', { type: 'search', name: 'q', value: query.get('q') ?? '', placeholder: 'Key or name' });
  const tag = h('input', { type: 'text', name: 'tag', value: query.get('tag') ?? '', placeholder: 'Any tag' });
  const archived = h('input', { type: 'checkbox', name: 'archived', checked: query.get('archived') === 'true' });
  const table = h('div', { class: 'table-wrap' });
  const more = h('div', { class: 'more' });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter flags' },
    field('Search', q), field('Tag', tag),
    h('label', { class: 'check' }, archived, ' Archived'),
    h('button', { type: 'submit', class: 'button' }, 'Filter'));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    const [qv, tv] = [/** @type {HTMLInputElement} */ (q).value.trim(), /** @type {HTMLInputElement} */ (tag).value.trim()];
    if (qv) params.set('q', qv);
    if (tv) params.set('tag', tv);
    if (/** @type {HTMLInputElement} */ (archived).checked) params.set('archived', 'true');
    navigate(`/flags${params.size ? `?${params}` : ''}`);
  });
  replace(view,
    h('div', { class: 'page-head' },
      h('h1', null, 'Flags'),
      session.can('editor') ? h('a', { class: 'button primary', href: '#/flags/new' }, 'New flag') : null),
    filters, table, more);

  /** @type {any[]} */
  let flags = [];
  const load = async () => {
    try {
      const page = await api.get('/flags', { q: query.get('q'), tag: query.get('tag'), archived: query.get('archived'), limit: 100 });
      flags = page.items;
      const [details, states] = await Promise.all([
        Promise.all(flags.map((f) => api.get(`/flags/${seg(f.key)}`))),
        flagStates(),
      ]);
      drawTable(table, details, states, load);
      replace(more, page.next_cursor ? h('p', { class: 'hint' }, 'Showing the first 100 flags; narrow the search to see others.') : null);
    } catch (e) {
      replace(table, h('p', { class: 'alert alert-danger', role: 'alert' }, `Could not load flags: ${e instanceof Error ? e.message : e}`));
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
 * Every flag's plan step and guard states, one request per environment: environment key → flag key → state.
 * @returns {Promise<Map<string, Map<string, import('./flag-state.js').FlagState>>>}
 */
async function flagStates() {
  const answers = await Promise.all(environments.list.map((e) =>
    api.get(`/environments/${seg(e.key)}/flag-states`).catch(() => ({ items: [] }))));
  return new Map(environments.list.map((e, i) => [e.key, new Map(answers[i].items.map((/** @type {any} */ s) => [s.flag, s]))]));
}

/**
 * @param {HTMLElement} table
 * @param {any[]} flags FlagDetail: the definition plus `environments` (config by environment key)
 * @param {Map<string, Map<string, any>>} states from `flagStates`
 * @param {() => Promise<void>} reload
 */
function drawTable(table, flags, states, reload) {
  if (!flags.length) {
    replace(table, h('p', { class: 'empty' }, 'No flags match.'));
    return;
  }
  const envs = environments.list;
  const current = environments.current;
  replace(table, h('table', { class: 'flags' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Flag'),
      h('th', { scope: 'col' }, 'Tags'),
      envs.map((e) => h('th', { scope: 'col', class: e.key === current ? 'current-env' : null }, e.name)))),
    h('tbody', null, flags.map((flag) => h('tr', { dataset: { flag: flag.key } },
      h('th', { scope: 'row' },
        h('a', { href: `#/flags/${seg(flag.key)}` }, flag.name || flag.key),
        flag.name && flag.name !== flag.key ? h('div', { class: 'key' }, flag.key) : null,
        flag.archived ? h('span', { class: 'badge' }, 'archived') : null),
      h('td', null, flag.tags.map((t) => h('a', { class: 'tag', href: `#/flags?tag=${encodeURIComponent(t)}` }, t))),
      envs.map((env) => envCell(flag, env, states.get(env.key)?.get(flag.key), reload)))))));
}

/** @param {any} flag @param {any} env @param {any} state its plan and guards there @param {() => Promise<void>} reload */
function envCell(flag, env, state, reload) {
  const config = flag.environments?.[env.key];
  const cell = h('td', { class: env.key === environments.current ? 'current-env' : null, dataset: { env: env.key } });
  if (!config) {
    replace(cell, '—');
    return cell;
  }
  const toggle = h('button', {
    type: 'button',
    class: `switch ${config.enabled ? 'on' : 'off'}`,
    role: 'switch',
    'aria-checked': String(config.enabled),
    'aria-label': `${flag.key} in ${env.name}`,
    disabled: !session.can('editor') || flag.archived,
    onclick: async () => {
      const enable = !config.enabled;
      if (env.production && !(await confirmDialog(`Turn ${flag.key} ${enable ? 'on' : 'off'} in ${env.name}, a production environment?`))) return;
      try {
        await api.post(`/flags/${seg(flag.key)}/environments/${seg(env.key)}/toggle`, { enabled: enable }, config.version);
        await reload();
      } catch (e) {
        showError(cell, e instanceof ApiError && e.status === 409 ? new Error('Changed meanwhile; reloaded.') : e);
        await reload();
      }
    },
  }, h('span', { class: 'visually-hidden' }, config.enabled ? 'On' : 'Off'));
  replace(cell, h('div', { class: 'env-state' }, toggle, h('span', { class: 'serve' }, serveSummary(flag, config)), stateCells(flag.key, env.key, state)));
  return cell;
}

/** @type {import('../router.js').Page} */
export async function newFlagPage(view) {
  const key = h('input', { name: 'key', required: true, autocomplete: 'off' });
  const name = h('input', { name: 'name' });
  const kind = h('select', { name: 'kind' }, ['boolean', 'string', 'number', 'json'].map((k) => h('option', { value: k }, k)));
  const variants = h('textarea', { name: 'variants', rows: 4, placeholder: '{"key": "blue", "value": "blue"}, one per line' });
  const variantsField = field('Variants (one JSON object per line)', variants, { path: 'variants', hint: 'A boolean flag gets on/off by itself.' });
  variantsField.hidden = true;
  kind.addEventListener('change', () => {
    variantsField.hidden = /** @type {HTMLSelectElement} */ (kind).value === 'boolean';
  });
  const tags = h('input', { name: 'tags', placeholder: 'checkout, team-payments' });
  const description = h('textarea', { name: 'description', rows: 2 });
  const form = h('form', { class: 'card form' },
    field('Key', key, { path: 'key', hint: 'Lower case letters, digits, dot, dash, underscore. Cannot change later.' }),
    field('Name', name, { path: 'name' }),
    field('Kind', kind, { path: 'kind' }),
    variantsField,
    field('Tags (comma-separated)', tags, { path: 'tags' }),
    field('Description', description, { path: 'description' }),
    h('div', { class: 'actions' }, h('a', { class: 'button subtle', href: '#/flags' }, 'Cancel'), h('button', { type: 'submit', class: 'button primary' }, 'Create flag')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (/** @type {any} */ el) => el.value.trim();
    /** @type {any} */
    const body = { key: v(key), kind: v(kind), tags: v(tags) ? v(tags).split(',').map((/** @type {string} */ t) => t.trim()).filter(Boolean) : [] };
    if (v(name)) body.name = v(name);
    if (v(description)) body.description = v(description);
    try {
      if (body.kind !== 'boolean') {
        body.variants = v(variants).split('\n').filter(Boolean).map((/** @type {string} */ line, /** @type {number} */ i) => {
          try {
            return JSON.parse(line);
          } catch {
            throw new ApiError(422, { errors: [{ path: `variants[${i}]`, message: 'not a JSON object' }] });
          }
        });
      }
      await api.post('/flags', body);
      navigate(`/flags/${encodeURIComponent(body.key)}`);
    } catch (err) {
      showError(form, err);
    }
  });
  replace(view, h('h1', null, 'New flag'), form);
  key.focus();
}
