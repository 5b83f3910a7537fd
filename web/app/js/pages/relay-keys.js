// Relay keys (admins only): one credential naming several environments, for `pennon relay`. The list, creating
// one (choosing its environments; the secret shown once, in this page's memory only), rotating and revoking one.

import { h, replace } from '../dom.js';
import { environments } from '../environments.js';
import { credentialsSection } from './credentials.js';

/** @param {string} env the environment shown, ticked in the form @returns {{el: HTMLElement, load: () => Promise<void>}} */
export function relayKeysSection(env) {
  const choices = h('fieldset', { class: 'relay-environments' });
  /** The environments ticked now. */
  const chosen = () => [...choices.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value);
  /** Draws a checkbox per environment, keeping the ticks (and always ticking the one shown). */
  const drawChoices = () => {
    const ticked = new Set([env, ...chosen()]);
    replace(choices, h('legend', null, 'Environments'), environments.list.map((e) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'environments', value: e.key, checked: ticked.has(e.key) }), ` ${e.key}`)));
  };
  return credentialsSection({
    base: '/relay-keys',
    titleId: 'relay-keys-title',
    title: 'Relay keys',
    hint: 'One credential for pennon relay, naming several environments: it reads their flags and keys, and nothing else.',
    noun: 'relay key',
    plural: 'relay keys',
    empty: 'No relay keys yet.',
    users: 'Relays',
    label: (created) => `Relay key "${created.name}"`,
    tableClass: 'relay-keys',
    rowData: 'relayKey',
    column: { heading: 'Environments', cell: (k) => k.environments.join(', ') },
    form: { label: 'New relay key', className: 'new-relay-key', nameLabel: 'Name of the relay key', placeholder: 'e.g. edge-relay', submit: 'Create relay key' },
    fields: { els: [choices], body: () => ({ environments: chosen() }), refresh: drawChoices },
  });
}
