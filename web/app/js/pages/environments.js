// The environments list (production mark, revision) and, for admins, the form creating one.

import { api } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { environments } from '../environments.js';
import { showError } from '../forms.js';
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
      draw(table, list);
    } catch (e) {
      replace(table, loadError(`Could not load environments: ${e instanceof Error ? e.message : e}`));
    }
  };
  await load();
  const reload = debounce(load);
  return onChange(reload);
}

/** @param {HTMLElement} table @param {any[]} list */
function draw(table, list) {
  if (!list.length) {
    replace(table, h('p', { class: 'empty' }, 'No environments yet.'));
    return;
  }
  replace(table, h('table', { class: 'environments' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Environment'),
      h('th', { scope: 'col' }, 'Revision'),
      h('th', { scope: 'col' }, 'Allowed origins'),
      h('th', { scope: 'col' }, 'Updated'))),
    h('tbody', null, list.map((e) => h('tr', { dataset: { env: e.key } },
      h('th', { scope: 'row' },
        h('a', { href: `#/environments/${encodeURIComponent(e.key)}` }, e.name),
        e.production ? h('span', { class: 'badge danger' }, 'production') : null,
        e.name !== e.key ? h('div', { class: 'key' }, e.key) : null),
      h('td', { class: 'revision' }, String(e.revision)),
      h('td', null, e.allowed_origins.length ? e.allowed_origins.join(', ') : h('span', { class: 'hint' }, 'none')),
      h('td', null, time(e.updated_at)))))));
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
