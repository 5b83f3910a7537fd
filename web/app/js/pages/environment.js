// One environment: its name, production mark, allowed origins and the approvals a config change needs (admins
// edit them, with the version so a change made meanwhile is shown), deleting it (with `force` when it still
// holds flag configs), and its SDK keys.

import { api, ApiError, seg } from '../api.js';
import { field, h, replace, time } from '../dom.js';
import { environments } from '../environments.js';
import { banner, confirmDialog, isConflict, showError } from '../forms.js';
import { debounce, onAudit, onChange } from '../live.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { keysSection } from './keys.js';
import { relayKeysSection } from './relay-keys.js';
import { originsEditor } from './origins-editor.js';
import { showStale } from './stale-version.js';

/** @type {import('../router.js').Page} */
export async function environmentPage(view, params) {
  const key = params.env;
  /** @type {any} */
  let env;
  try {
    env = await api.get(`/environments/${seg(key)}`);
  } catch (e) {
    replace(view, h('h1', null, 'Environment'), h('p', { class: 'alert alert-danger', role: 'alert' },
      e instanceof ApiError && e.status === 404 ? `There is no environment ${key}.` : String(e)));
    return;
  }
  const settings = h('section', { 'aria-labelledby': 'env-settings' });
  const keys = session.can('admin') ? keysSection(key) : null;
  const relayKeys = session.can('admin') ? relayKeysSection(key) : null;
  const title = h('h1');
  let dirty = false;
  const drawSettings = () => {
    dirty = false;
    replace(title, env.name, env.production ? h('span', { class: 'badge danger' }, 'production') : null);
    replace(settings, settingsForm(env, (saved) => {
      env = saved;
      drawSettings();
    }, () => { dirty = true; }));
  };
  replace(view,
    h('p', { class: 'crumbs' }, h('a', { href: '#/environments' }, 'Environments'), ' / '),
    title,
    h('p', { class: 'key' }, `${env.key} · revision `, h('span', { class: 'revision' }, String(env.revision)), ` · created ${time(env.created_at)}`),
    settings,
    keys?.el,
    relayKeys?.el);
  drawSettings();
  await keys?.load();
  await relayKeys?.load();

  const refresh = debounce(async () => {
    /** @type {any} */
    let fresh;
    try {
      fresh = await api.get(`/environments/${seg(key)}`);
    } catch {
      return;
    }
    const revision = view.querySelector('.revision');
    if (revision) revision.textContent = String(fresh.revision);
    if (fresh.version === env.version) return;
    env = fresh;
    if (!dirty) drawSettings();
  });
  const stopChange = onChange((c) => {
    if (c.environment === key) refresh();
  });
  const reloadKeys = debounce(() => void keys?.load());
  const stopAudit = onAudit((a) => {
    if (a.resource === 'sdk_key' && a.environment === key) reloadKeys();
  });
  return () => {
    stopChange();
    stopAudit();
  };
}

/**
 * @param {any} env
 * @param {(saved: any) => void} saved
 * @param {() => void} touched
 */
function settingsForm(env, saved, touched) {
  const admin = session.can('admin');
  const name = h('input', { name: 'name', value: env.name, disabled: !admin });
  const production = h('input', { type: 'checkbox', name: 'production', checked: env.production, disabled: !admin });
  const origins = originsEditor(env.allowed_origins, { readOnly: !admin });
  const approvals = h('input', { type: 'number', name: 'approvals_required', min: '0', step: '1', inputmode: 'numeric',
    value: String(env.approvals_required ?? 0), disabled: !admin });
  const form = h('form', { class: 'card form', 'aria-labelledby': 'env-settings' },
    h('h2', { id: 'env-settings' }, 'Settings'),
    admin ? null : h('p', { class: 'hint' }, 'Read only: changing environments needs the admin role.'),
    field('Name', name, { path: 'name' }),
    h('div', { class: 'field', dataset: { path: 'production' } },
      h('label', { class: 'check' }, production, ' Production (changes here ask for confirmation)'),
      h('p', { class: 'field-error', hidden: true })),
    origins.el,
    field('Approvals required', approvals, { path: 'approvals_required',
      hint: 'An editor\'s config change here becomes a change request that this many others must approve. 0: none.' }),
    admin ? h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button danger', onclick: () => void remove(form, env) }, 'Delete environment'),
      h('button', { type: 'submit', class: 'button primary' }, 'Save')) : null);
  form.addEventListener('input', touched);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const required = /** @type {HTMLInputElement} */ (approvals).value.trim();
    /** @type {any} */
    const body = {
      name: /** @type {HTMLInputElement} */ (name).value.trim(),
      production: /** @type {HTMLInputElement} */ (production).checked,
      allowed_origins: origins.value(),
      // Sent as typed when it is no whole number, so the server names the field.
      approvals_required: /^\d+$/.test(required) ? Number(required) : required,
    };
    try {
      const answer = await api.patch(`/environments/${seg(env.key)}`, body, env.version);
      await environments.reload();
      saved(answer);
      document.querySelector('#view form')?.prepend(h('div', { class: 'alert alert-ok form-error', role: 'status', dataset: { owned: '1' } }, 'Saved.'));
    } catch (err) {
      if (isConflict(err)) {
        await showStale(form, /** @type {ApiError} */ (err), {
          resource: 'environment',
          key: env.key,
          reload: async () => saved(await api.get(`/environments/${seg(env.key)}`)),
        });
      } else {
        showError(form, err);
      }
    }
  });
  return form;
}

/**
 * Deletes after a confirmation; when it still holds flag configs the server refuses, and a second confirmation
 * deletes it with them (`force`).
 * @param {HTMLElement} form @param {any} env
 */
async function remove(form, env) {
  if (!(await confirmDialog(`Delete the environment ${env.name} (${env.key})? Its SDK keys stop working.`))) return;
  try {
    await api.del(`/environments/${seg(env.key)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) {
      showError(form, err);
      return;
    }
    if (!(await confirmDialog(`${err.message}. Delete ${env.key} and every flag configuration in it? This cannot be undone.`))) {
      banner(form, `Not deleted: ${err.message}.`);
      return;
    }
    try {
      await api.del(`/environments/${seg(env.key)}?force=true`);
    } catch (again) {
      showError(form, again);
      return;
    }
  }
  await environments.reload().catch(() => {});
  navigate('/environments');
}
