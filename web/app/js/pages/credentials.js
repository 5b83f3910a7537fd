// A section of credentials the server shows once (an environment's SDK keys, relay keys): the list, a form that
// creates one (its secret shown once, in this page's memory only), rotating one (the old secret keeps working
// for a while) and revoking one. What differs between kinds of credential comes in as a `Credentials`.

import { api } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { confirmDialog, showError } from '../forms.js';
import { secretOnce } from './secret-once.js';

/**
 * @typedef {object} Credentials
 * @property {string} base the API path of the list (`POST` creates, `/{id}/rotate`, `DELETE /{id}`)
 * @property {string} titleId the id of the section's heading
 * @property {string} title the section's heading
 * @property {string} hint the line under the heading
 * @property {string} noun one of them, in aria-labels (`Rotate ${noun} <name>`)
 * @property {string} plural in the load error (`Could not load ${plural}`)
 * @property {string} empty what an empty list says
 * @property {string} users who is refused at once by a revocation (`SDKs`)
 * @property {(created: any) => string} label what a new secret is, e.g. `Relay key "edge"`
 * @property {string} tableClass the table's class
 * @property {string} rowData the row's data attribute, as a `dataset` name (`relayKey`: `data-relay-key`)
 * @property {{heading: string, cell: (k: any) => string}} column the column between Name and Prefix
 * @property {{label: string, className: string, nameLabel: string, placeholder: string, submit: string}} form
 *   the create form's aria-label, class, name field label and placeholder, and submit button text
 * @property {CredentialFields} fields the form's own fields after the name
 */

/**
 * @typedef {object} CredentialFields
 * @property {Node[]} els the controls, after the name field
 * @property {() => Record<string, unknown>} body what they add to the create request (besides `name`)
 * @property {() => void} [refresh] draws them again after each load of the list
 */

/** @param {Credentials} c @returns {{el: HTMLElement, load: () => Promise<void>}} */
export function credentialsSection(c) {
  const secret = h('div', { class: 'secret-slot' });
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');

  const load = async () => {
    try {
      draw((await api.get(c.base)).items);
    } catch (e) {
      replace(table, loadError(`Could not load ${c.plural}: ${e instanceof Error ? e.message : e}`));
    }
    c.fields.refresh?.();
  };
  /** @param {any} created the credential with its secret */
  const reveal = (created) => {
    replace(secret, secretOnce(c.label(created), created.key, () => replace(secret)));
    /** @type {HTMLElement | null} */ (secret.querySelector('input'))?.focus();
  };

  /** @param {any[]} keys */
  const draw = (keys) => {
    if (!keys.length) {
      replace(table, h('p', { class: 'empty' }, c.empty));
      return;
    }
    replace(table, h('table', { class: c.tableClass },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, c.column.heading),
        h('th', { scope: 'col' }, 'Prefix'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, keys.map((k) => h('tr', { dataset: { [c.rowData]: String(k.id) } },
        h('th', { scope: 'row' }, k.name),
        h('td', null, c.column.cell(k)),
        h('td', { class: 'mono' }, `${k.prefix}…`),
        h('td', null, time(k.created_at), h('div', { class: 'hint' }, k.created_by)),
        h('td', null, state(k)),
        h('td', { class: 'row-actions' }, k.revoked_at ? null : [
          h('button', { type: 'button', class: 'button small', 'aria-label': `Rotate ${c.noun} ${k.name}`, onclick: () => rotate(k) }, 'Rotate'),
          h('button', { type: 'button', class: 'button small danger', 'aria-label': `Revoke ${c.noun} ${k.name}`, onclick: () => revoke(k) }, 'Revoke'),
        ]))))));
  };

  /** @param {any} k */
  const rotate = async (k) => {
    if (!(await confirmDialog(`Rotate ${k.name}? A new secret replaces it; the old one keeps working for 24 hours so you can roll it out.`))) return;
    try {
      reveal(await api.post(`${c.base}/${k.id}/rotate`, {}));
      await load();
    } catch (e) {
      showError(status, e);
    }
  };
  /** @param {any} k */
  const revoke = async (k) => {
    if (!(await confirmDialog(`Revoke ${k.name} (${k.prefix}…)? ${c.users} using it are refused at once.`))) return;
    try {
      await api.del(`${c.base}/${k.id}`);
      await load();
    } catch (e) {
      showError(status, e);
    }
  };

  const name = h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: c.form.placeholder });
  const form = h('form', { class: `filters ${c.form.className}`, 'aria-label': c.form.label },
    field(c.form.nameLabel, name, { path: 'name' }),
    c.fields.els,
    h('button', { type: 'submit', class: 'button primary' }, c.form.submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api.post(c.base, { name: /** @type {HTMLInputElement} */ (name).value.trim(), ...c.fields.body() });
      /** @type {HTMLInputElement} */ (name).value = '';
      reveal(created);
      await load();
    } catch (err) {
      showError(form, err);
    }
  });

  const el = h('section', { class: 'card', 'aria-labelledby': c.titleId },
    h('h2', { id: c.titleId }, c.title),
    h('p', { class: 'hint' }, c.hint),
    secret, status, form, table);
  return { el, load };
}

/** The state badge: revoked, expiring after a rotation, or active. @param {any} k */
function state(k) {
  if (k.revoked_at) return h('span', { class: 'badge danger' }, `revoked ${time(k.revoked_at)}`);
  if (k.expires_at) return h('span', { class: 'badge warn' }, `expires ${time(k.expires_at)}`);
  return h('span', { class: 'badge ok' }, 'active');
}
