// Relay keys (admins only): one credential naming several environments, for `pennon relay`. The list, creating
// one (choosing its environments; the secret shown once, in this page's memory only), rotating and revoking one.

import { api } from '../api.js';
import { environments } from '../environments.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { confirmDialog, showError } from '../forms.js';
import { secretOnce } from './secret-once.js';

/** @param {string} env the environment shown, ticked in the form @returns {{el: HTMLElement, load: () => Promise<void>}} */
export function relayKeysSection(env) {
  const secret = h('div', { class: 'secret-slot' });
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');
  const base = '/relay-keys';

  const load = async () => {
    try {
      draw((await api.get(base)).items);
    } catch (e) {
      replace(table, loadError(`Could not load relay keys: ${e instanceof Error ? e.message : e}`));
    }
    drawChoices();
  };
  /** @param {any} created the relay key with its secret */
  const reveal = (created) => {
    replace(secret, secretOnce(`Relay key "${created.name}"`, created.key, () => replace(secret)));
    /** @type {HTMLElement | null} */ (secret.querySelector('input'))?.focus();
  };

  /** @param {any[]} keys */
  const draw = (keys) => {
    if (!keys.length) {
      replace(table, h('p', { class: 'empty' }, 'No relay keys yet.'));
      return;
    }
    replace(table, h('table', { class: 'relay-keys' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'Environments'),
        h('th', { scope: 'col' }, 'Prefix'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, keys.map((k) => h('tr', { dataset: { relayKey: String(k.id) } },
        h('th', { scope: 'row' }, k.name),
        h('td', null, k.environments.join(', ')),
        h('td', { class: 'mono' }, `${k.prefix}…`),
        h('td', null, time(k.created_at), h('div', { class: 'hint' }, k.created_by)),
        h('td', null, state(k)),
        h('td', { class: 'row-actions' }, k.revoked_at ? null : [
          h('button', { type: 'button', class: 'button small', 'aria-label': `Rotate relay key ${k.name}`, onclick: () => rotate(k) }, 'Rotate'),
          h('button', { type: 'button', class: 'button small danger', 'aria-label': `Revoke relay key ${k.name}`, onclick: () => revoke(k) }, 'Revoke'),
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
    if (!(await confirmDialog(`Revoke ${k.name} (${k.prefix}…)? Relays using it are refused at once.`))) return;
    try {
      await api.del(`${base}/${k.id}`);
      await load();
    } catch (e) {
      showError(status, e);
    }
  };

  const name = h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'e.g. edge-relay' });
  const choices = h('fieldset', { class: 'relay-environments' });
  const drawChoices = () => {
    const ticked = new Set([env, ...[...choices.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value)]);
    replace(choices, h('legend', null, 'Environments'), environments.list.map((e) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'environments', value: e.key, checked: ticked.has(e.key) }), ` ${e.key}`)));
  };
  const form = h('form', { class: 'filters new-relay-key', 'aria-label': 'New relay key' },
    field('Name of the relay key', name, { path: 'name' }),
    choices,
    h('button', { type: 'submit', class: 'button primary' }, 'Create relay key'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = [...choices.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value);
    try {
      const created = await api.post(base, { name: /** @type {HTMLInputElement} */ (name).value.trim(), environments: chosen });
      /** @type {HTMLInputElement} */ (name).value = '';
      reveal(created);
      await load();
    } catch (err) {
      showError(form, err);
    }
  });

  const el = h('section', { class: 'card', 'aria-labelledby': 'relay-keys-title' },
    h('h2', { id: 'relay-keys-title' }, 'Relay keys'),
    h('p', { class: 'hint' }, 'One credential for pennon relay, naming several environments: it reads their flags and keys, and nothing else.'),
    secret, status, form, table);
  return { el, load };
}

/** @param {any} k */
function state(k) {
  if (k.revoked_at) return h('span', { class: 'badge danger' }, `revoked ${time(k.revoked_at)}`);
  if (k.expires_at) return h('span', { class: 'badge warn' }, `expires ${time(k.expires_at)}`);
  return h('span', { class: 'badge ok' }, 'active');
}
