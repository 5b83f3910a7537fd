// API tokens for automation (admins only): the list, creating one (its secret shown once), revoking one.

import { api } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { confirmDialog, showError } from '../forms.js';
import { debounce, onAudit } from '../live.js';
import { session } from '../session.js';
import { secretOnce } from './secret-once.js';

/** @type {import('../router.js').Page} */
export async function tokensPage(view) {
  if (!session.can('admin')) {
    replace(view, h('h1', null, 'API tokens'), h('p', null, 'Managing API tokens needs the admin role.'));
    return;
  }
  const secret = h('div', { class: 'secret-slot' });
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');
  const load = async () => {
    try {
      draw((await api.get('/tokens')).items);
    } catch (e) {
      replace(table, loadError(`Could not load tokens: ${e instanceof Error ? e.message : e}`));
    }
  };

  /** @param {any[]} tokens */
  const draw = (tokens) => {
    if (!tokens.length) {
      replace(table, h('p', { class: 'empty' }, 'No API tokens yet.'));
      return;
    }
    replace(table, h('table', { class: 'tokens' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'Role'),
        h('th', { scope: 'col' }, 'Prefix'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, tokens.map((t) => h('tr', { dataset: { token: String(t.id) } },
        h('th', { scope: 'row' }, t.name),
        h('td', null, t.role),
        h('td', { class: 'mono' }, `${t.prefix}…`),
        h('td', null, time(t.created_at), h('div', { class: 'hint' }, t.created_by)),
        h('td', null, tokenState(t)),
        h('td', null, t.revoked_at ? null : h('button', {
          type: 'button',
          class: 'button small danger',
          'aria-label': `Revoke token ${t.name}`,
          onclick: async () => {
            if (!(await confirmDialog(`Revoke the token ${t.name} (${t.prefix}…)? Anything using it is refused at once.`))) return;
            replace(status);
            try {
              await api.del(`/tokens/${t.id}`);
            } catch (e) {
              showError(status, e);
            }
            await load();
          },
        }, 'Revoke')))))));
  };

  const name = h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'e.g. deploy-pipeline' });
  const role = h('select', { name: 'role' }, ['viewer', 'editor', 'admin'].map((r) => h('option', { value: r }, r)));
  const form = h('form', { class: 'filters', 'aria-label': 'New API token' },
    field('Token name', name, { path: 'name' }),
    field('Role', role, { path: 'role' }),
    h('button', { type: 'submit', class: 'button primary' }, 'Create token'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api.post('/tokens', { name: /** @type {HTMLInputElement} */ (name).value.trim(), role: /** @type {HTMLSelectElement} */ (role).value });
      /** @type {HTMLInputElement} */ (name).value = '';
      replace(secret, secretOnce(`API token "${created.name}"`, created.token, () => replace(secret)));
      /** @type {HTMLElement | null} */ (secret.querySelector('input'))?.focus();
      await load();
    } catch (err) {
      showError(form, err);
    }
  });

  replace(view,
    h('h1', null, 'API tokens'),
    h('p', { class: 'hint' }, 'Tokens let scripts and pipelines call the API with a role: send it as "Authorization: Bearer <token>".'),
    secret, status, form, table);
  await load();
  const reload = debounce(load);
  return onAudit((a) => {
    if (a.resource === 'api_token' || a.resource === 'token') reload();
  });
}

/** @param {any} t */
function tokenState(t) {
  if (t.revoked_at) return h('span', { class: 'badge danger' }, `revoked ${time(t.revoked_at)}`);
  if (t.expires_at) return h('span', { class: 'badge warn' }, `expires ${time(t.expires_at)}`);
  return h('span', { class: 'badge ok' }, 'active');
}
