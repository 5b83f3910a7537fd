// The environments list (production mark, revision, the approvals a config change needs) in their configured order, which admins change with the
// move buttons, and, for admins, the form creating one.

import { api, seg } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { environments } from '../environments.js';
import { banner, showError } from '../forms.js';
import { debounce, onChange } from '../live.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { originsEditor } from './origins-editor.js';

/** @type {import('../router.js').Page} */
export async function environmentsPage(view) {
  const table = h('div', { class: 'table-wrap' });
  const admin = session.can('admin');
  replace(view,
    h('div', { class: 'page-head' }, h('h1', null, 'Environments')),
    table,
    admin ? createForm() : null);

  const load = async () => {
    try {
      const list = await environments.reload();
      draw(table, list, admin ? (key, by) => void move(table, list, key, by, load) : null);
    } catch (e) {
      replace(table, loadError(`Could not load environments: ${e instanceof Error ? e.message : e}`));
    }
  };
  await load();
  const reload = debounce(load);
  return onChange(reload);
}

/**
 * @param {HTMLElement} table @param {any[]} list
 * @param {((key: string, by: number) => void) | null} onMove admins reorder; null for the others
 */
function draw(table, list, onMove) {
  if (!list.length) {
    replace(table, h('p', { class: 'empty' }, 'No environments yet.'));
    return;
  }
  replace(table, h('table', { class: 'environments' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Environment'),
      h('th', { scope: 'col' }, 'Revision'),
      h('th', { scope: 'col' }, 'Allowed origins'),
      h('th', { scope: 'col' }, 'Approvals'),
      h('th', { scope: 'col' }, 'Updated'),
      onMove ? h('th', { scope: 'col' }, 'Order') : null)),
    h('tbody', null, list.map((e, i) => h('tr', { dataset: { env: e.key } },
      h('th', { scope: 'row' },
        h('a', { href: `#/environments/${encodeURIComponent(e.key)}` }, e.name),
        e.production ? h('span', { class: 'badge danger' }, 'production') : null,
        e.name !== e.key ? h('div', { class: 'key' }, e.key) : null),
      h('td', { class: 'revision' }, String(e.revision)),
      h('td', null, e.allowed_origins.length ? e.allowed_origins.join(', ') : h('span', { class: 'hint' }, 'none')),
      h('td', { class: 'approvals' }, e.approvals_required
        ? `${e.approvals_required} required`
        : h('span', { class: 'hint' }, 'none')),
      h('td', null, time(e.updated_at)),
      onMove ? h('td', { class: 'order' },
        h('button', { type: 'button', class: 'button small', 'aria-label': `Move ${e.name} up`, disabled: i === 0,
          onclick: () => onMove(e.key, -1) }, '↑'),
        h('button', { type: 'button', class: 'button small', 'aria-label': `Move ${e.name} down`,
          disabled: i === list.length - 1, onclick: () => onMove(e.key, 1) }, '↓')) : null)))));
}

/**
 * Moves an environment one place up (-1) or down (1): the new order is written as positions 0, 1, 2, …, each
 * environment whose position changes getting one audited update with its version. The buttons wait meanwhile.
 * @param {HTMLElement} table @param {any[]} list @param {string} key @param {number} by
 * @param {() => Promise<void>} reload
 */
async function move(table, list, key, by, reload) {
  const order = [...list];
  const from = order.findIndex((e) => e.key === key);
  const to = from + by;
  if (from < 0 || to < 0 || to >= order.length) return;
  [order[from], order[to]] = [order[to], order[from]];
  table.setAttribute('aria-busy', 'true');
  table.querySelectorAll('button').forEach((b) => { /** @type {HTMLButtonElement} */ (b).disabled = true; });
  try {
    for (const [position, e] of order.entries()) {
      if (e.position !== position) await api.patch(`/environments/${seg(e.key)}`, { position }, e.version);
    }
  } catch (err) {
    table.removeAttribute('aria-busy');
    await reload();
    banner(table, `Not moved: ${err instanceof Error ? err.message : err}`);
    return;
  }
  table.removeAttribute('aria-busy');
  await reload();
}

function createForm() {
  const key = h('input', { name: 'key', required: true, autocomplete: 'off' });
  const name = h('input', { name: 'name' });
  const production = h('input', { type: 'checkbox', name: 'production' });
  const origins = originsEditor([]);
  const form = h('form', { class: 'card form', 'aria-labelledby': 'new-env-title' },
    h('h2', { id: 'new-env-title' }, 'New environment'),
    field('Key', key, { path: 'key', hint: 'e.g. staging. Cannot change later.' }),
    field('Name', name, { path: 'name' }),
    h('div', { class: 'field', dataset: { path: 'production' } },
      h('label', { class: 'check' }, production, ' Production (changes here ask for confirmation)'),
      h('p', { class: 'field-error', hidden: true })),
    origins.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary' }, 'Create environment')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (/** @type {any} */ el) => el.value.trim();
    /** @type {any} */
    const body = { key: v(key), production: /** @type {HTMLInputElement} */ (production).checked, allowed_origins: origins.value() };
    if (v(name)) body.name = v(name);
    try {
      await api.post('/environments', body);
      await environments.reload();
      navigate(`/environments/${encodeURIComponent(body.key)}`);
    } catch (err) {
      showError(form, err);
    }
  });
  return form;
}
