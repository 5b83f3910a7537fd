// An environment's SDK keys (admins only): the list, creating a server or client key, rotating and revoking one.
// A new secret is shown once, in this page's memory only.

import { api, seg } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { confirmDialog, showError } from '../forms.js';
import { secretOnce } from './secret-once.js';

/** @param {string} env @returns {{el: HTMLElement, load: () => Promise<void>}} */
export function keysSection(env) {
  const secret = h('div', { class: 'secret-slot' });
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');
  const base = `/environments/${seg(env)}/keys`;

  const load = async () => {
    try {
      const answer = await api.get(base);
      draw(answer.items);
    } catch (e) {
      replace(table, loadError(`Could not load keys: ${e instanceof Error ? e.message : e}`));
    }
  };
  /** @param {any} created the key with its secret */
  const reveal = (created) => {
    const label = `${created.kind === 'server' ? 'Server' : 'Client'} key "${created.name}"`;
    replace(secret, secretOnce(label, created.key, () => replace(secret)));
    /** @type {HTMLElement | null} */ (secret.querySelector('input'))?.focus();
  };

  /** @param {any[]} keys */
  const draw = (keys) => {
    if (!keys.length) {
      replace(table, h('p', { class: 'empty' }, 'No keys yet: SDKs cannot connect to this environment.'));
      return;
    }
    replace(table, h('table', { class: 'keys' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'Kind'),
        h('th', { scope: 'col' }, 'Prefix'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, keys.map((k) => h('tr', { dataset: { key: String(k.id) } },
        h('th', { scope: 'row' }, k.name),
        h('td', null, k.kind),
        h('td', { class: 'mono' }, `${k.prefix}…`),
        h('td', null, time(k.created_at), h('div', { class: 'hint' }, k.created_by)),
        h('td', null, keyState(k)),
        h('td', { class: 'row-actions' }, k.revoked_at ? null : [
          h('button', { type: 'button', class: 'button small', 'aria-label': `Rotate key ${k.name}`, onclick: () => rotate(k) }, 'Rotate'),
          h('button', { type: 'button', class: 'button small danger', 'aria-label': `Revoke key ${k.name}`, onclick: () => revoke(k) }, 'Revoke'),
        ]))))));
  };

  /** @param {any} k */
  const rotate = async (k) => {
    if (!(await confirmDialog(`Rotate ${k.name}? A new secret replaces it; the old one keeps working for 24 hours so you can roll it out.`))) return;
    try {
      reveal(await api.post(`${base}/${k.id}/rotate`, {}));
      await load();
    } catch (e) {
      showError(status, e);
    }
  };
  /** @param {any} k */
  const revoke = async (k) => {
    if (!(await confirmDialog(`Revoke ${k.name} (${k.prefix}…)? SDKs using it are refused at once.`))) return;
    try {
      await api.del(`${base}/${k.id}`);
      await load();
    } catch (e) {
      showError(status, e);
    }
  };

  const name = h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'e.g. checkout-service' });
  const kind = h('select', { name: 'kind' },
    h('option', { value: 'server' }, 'Server'),
    h('option', { value: 'client' }, 'Client (browser, mobile)'));
  const form = h('form', { class: 'filters new-key', 'aria-label': 'New SDK key' },
    field('Key name', name, { path: 'name' }),
    field('Kind', kind, { path: 'kind' }),
    h('button', { type: 'submit', class: 'button primary' }, 'Create key'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api.post(base, { name: /** @type {HTMLInputElement} */ (name).value.trim(), kind: /** @type {HTMLSelectElement} */ (kind).value });
      /** @type {HTMLInputElement} */ (name).value = '';
      reveal(created);
      await load();
    } catch (err) {
      showError(form, err);
    }
  });

  const el = h('section', { class: 'card', 'aria-labelledby': 'keys-title' },
    h('h2', { id: 'keys-title' }, 'SDK keys'),
    h('p', { class: 'hint' }, 'Server keys read the whole configuration and its stream; client keys only get evaluated values.'),
    secret, status, form, table);
  return { el, load };
}

/** @param {any} k */
function keyState(k) {
  if (k.revoked_at) return h('span', { class: 'badge danger' }, `revoked ${time(k.revoked_at)}`);
  if (k.expires_at) return h('span', { class: 'badge warn' }, `expires ${time(k.expires_at)}`);
  return h('span', { class: 'badge ok' }, 'active');
}
