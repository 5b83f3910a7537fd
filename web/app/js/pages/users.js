// Users (admins only): the list, creating one (email, password, role), changing a role, disabling and enabling.

import { api } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { confirmDialog, showError } from '../forms.js';
import { debounce, onAudit } from '../live.js';
import { session } from '../session.js';

const ROLES = ['viewer', 'editor', 'admin'];

/** @param {string} selected @param {Record<string, any>} props */
const roleSelect = (selected, props) => h('select', props, ROLES.map((r) => h('option', { value: r, selected: r === selected }, r)));

/** @type {import('../router.js').Page} */
export async function usersPage(view) {
  if (!session.can('admin')) {
    replace(view, h('h1', null, 'Users'), h('p', null, 'Managing users needs the admin role.'));
    return;
  }
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');
  const load = async () => {
    try {
      draw((await api.get('/users')).items);
    } catch (e) {
      replace(table, loadError(`Could not load users: ${e instanceof Error ? e.message : e}`));
    }
  };

  /** @param {any[]} users */
  const draw = (users) => {
    replace(table, h('table', { class: 'users' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Email'),
        h('th', { scope: 'col' }, 'Role'),
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, users.map((u) => {
        const role = roleSelect(u.role, { 'aria-label': `Role of ${u.email}`, disabled: u.disabled });
        // A select changes on a single arrow key: ask before the role really changes, and put it back if not.
        role.addEventListener('change', async () => {
          const next = /** @type {HTMLSelectElement} */ (role).value;
          if (await confirmDialog(`Change the role of ${u.email} from ${u.role} to ${next}?`)) await update(u, { role: next });
          else /** @type {HTMLSelectElement} */ (role).value = u.role;
        });
        return h('tr', { dataset: { user: u.email } },
          h('th', { scope: 'row' }, u.email, session.user?.name === u.email ? h('span', { class: 'badge' }, 'you') : null),
          h('td', null, role),
          h('td', null, u.disabled ? h('span', { class: 'badge danger' }, 'disabled') : h('span', { class: 'badge ok' }, 'active')),
          h('td', null, time(u.created_at)),
          h('td', null, h('button', {
            type: 'button',
            class: `button small ${u.disabled ? '' : 'danger'}`,
            onclick: async () => {
              if (!u.disabled && !(await confirmDialog(`Disable ${u.email}? They are signed out and cannot sign in again until enabled.`))) return;
              await update(u, { disabled: !u.disabled });
            },
          }, u.disabled ? `Enable ${u.email}` : `Disable ${u.email}`)));
      }))));
  };

  /** @param {any} u @param {any} change */
  const update = async (u, change) => {
    replace(status);
    try {
      await api.patch(`/users/${u.id}`, change);
    } catch (e) {
      showError(status, e);
    }
    await load();
  };

  replace(view, h('h1', null, 'Users'), status, table, createForm(load));
  await load();
  const reload = debounce(load);
  return onAudit((a) => {
    if (a.resource === 'user') reload();
  });
}

/** @param {() => Promise<void>} after */
function createForm(after) {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'new-password' });
  const role = roleSelect('viewer', { name: 'role' });
  const form = h('form', { class: 'card form', 'aria-labelledby': 'new-user-title' },
    h('h2', { id: 'new-user-title' }, 'New user'),
    field('Email', email, { path: 'email' }),
    field('Password', password, { path: 'password', hint: 'At least 10 characters, not a common password, not containing the name of their email. Tell it to them in person; they can change it later.' }),
    field('Role', role, { path: 'role', hint: 'Viewers read; editors change flags and segments; admins also manage environments, keys, users and tokens.' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary' }, 'Create user')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (/** @type {any} */ el) => el.value.trim();
    try {
      await api.post('/users', { email: v(email), password: /** @type {HTMLInputElement} */ (password).value, role: v(role) });
      form.reset();
      await after();
    } catch (err) {
      showError(form, err);
    }
  });
  return form;
}
