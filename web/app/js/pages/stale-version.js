// A version conflict on an object that is not a flag config (a segment, an environment): says who made the
// current version, from the audit log, and offers to reload.

import { api } from '../api.js';
import { h } from '../dom.js';
import { banner, clearErrors } from '../forms.js';

/**
 * @param {HTMLElement} root the form
 * @param {import('../api.js').ApiError} error
 * @param {{resource: 'segment'|'environment', key: string, reload: () => void}} what
 */
export async function showStale(root, error, what) {
  clearErrors(root);
  let who = 'someone else';
  try {
    const query = what.resource === 'environment' ? { environment: what.key, limit: 100 } : { limit: 200 };
    const page = await api.get('/audit', query);
    const last = page.items?.find((/** @type {any} */ a) => a.resource === what.resource && a.resource_key === what.key);
    if (last) who = `${last.actor} at ${new Date(last.at).toLocaleString()}`;
  } catch {
    // Keep the plain message.
  }
  const current = error.problem.current_version;
  const reload = h('button', { type: 'button', class: 'button', onclick: what.reload }, 'Reload');
  const el = banner(root, `This ${what.resource} changed while you were editing: version ${current} was made by ${who}. `, [reload]);
  el.classList.add('conflict');
}
