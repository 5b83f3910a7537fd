// An environment's SDK keys (admins only): the list, creating a server or client key, rotating and revoking one.
// A new secret is shown once, in this page's memory only.

import { seg } from '../api.js';
import { field, h } from '../dom.js';
import { credentialsSection } from './credentials.js';

/** @param {string} env @returns {{el: HTMLElement, load: () => Promise<void>}} */
export function keysSection(env) {
  const kind = h('select', { name: 'kind' },
    h('option', { value: 'server' }, 'Server'),
    h('option', { value: 'client' }, 'Client (browser, mobile)'));
  return credentialsSection({
    base: `/environments/${seg(env)}/keys`,
    titleId: 'keys-title',
    title: 'SDK keys',
    hint: 'Server keys read the whole configuration and its stream; client keys only get evaluated values.',
    noun: 'key',
    plural: 'keys',
    empty: 'No keys yet: SDKs cannot connect to this environment.',
    users: 'SDKs',
    label: (created) => `${created.kind === 'server' ? 'Server' : 'Client'} key "${created.name}"`,
    tableClass: 'keys',
    rowData: 'key',
    column: { heading: 'Kind', cell: (k) => k.kind },
    form: { label: 'New SDK key', className: 'new-key', nameLabel: 'Key name', placeholder: 'e.g. checkout-service', submit: 'Create key' },
    fields: {
      els: [field('Kind', kind, { path: 'kind' })],
      body: () => ({ kind: /** @type {HTMLSelectElement} */ (kind).value }),
    },
  });
}
