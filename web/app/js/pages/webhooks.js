// Webhooks (admins only): the list, creating one (its secret shown once), sending a test event, enabling,
// disabling and deleting one, and a hook's delivery log.

import { api } from '../api.js';
import { field, h, loadError, replace, time } from '../dom.js';
import { confirmDialog, showError } from '../forms.js';
import { debounce, onAudit } from '../live.js';
import { session } from '../session.js';
import { secretOnce } from './secret-once.js';

/** Comma- or space-separated words as a list. @param {HTMLElement} input */
const words = (input) => /** @type {HTMLInputElement} */ (input).value.split(/[\s,]+/).filter(Boolean);

/** A hook's filters in a few words. @param {any} w */
function filters(w) {
  const parts = [
    w.environments.length ? `environments: ${w.environments.join(', ')}` : '',
    w.flags.length ? `flags: ${w.flags.join(', ')}` : '',
    w.tags.length ? `tags: ${w.tags.join(', ')}` : '',
    w.actions.length ? `actions: ${w.actions.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'every change';
}

/** @type {import('../router.js').Page} */
export async function webhooksPage(view) {
  if (!session.can('admin')) {
    replace(view, h('h1', null, 'Webhooks'), h('p', null, 'Managing webhooks needs the admin role.'));
    return;
  }
  const secret = h('div', { class: 'secret-slot' });
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');
  const log = h('section', { 'aria-label': 'Delivery log' });
  /** @type {number | null} */
  let shown = null;

  const load = async () => {
    try {
      draw((await api.get('/webhooks')).items);
    } catch (e) {
      replace(table, loadError(`Could not load webhooks: ${e instanceof Error ? e.message : e}`));
    }
    if (shown !== null) await showLog(shown);
  };

  /** @param {number} id */
  const showLog = async (id) => {
    shown = id;
    try {
      const page = await api.get(`/webhooks/${id}/deliveries`, { limit: 50 });
      const refresh = h('button', { type: 'button', class: 'button small', onclick: () => showLog(id) }, 'Refresh');
      const rows = page.items.map((/** @type {any} */ d) => h('tr', { class: 'delivery-row', dataset: { delivery: d.delivery_id } },
        h('td', null, time(d.created_at)),
        h('td', { class: 'mono' }, d.action),
        h('td', null, h('span', { class: `badge ${d.status === 'delivered' ? 'ok' : d.status === 'failed' ? 'danger' : 'warn'}` }, d.status)),
        h('td', null, String(d.attempts)),
        h('td', null, d.last_status ? `HTTP ${d.last_status}` : (d.last_error ?? ''),
          d.last_response ? h('div', { class: 'hint mono' }, d.last_response.slice(0, 200)) : null),
        h('td', null, d.next_attempt_at ? time(d.next_attempt_at) : '')));
      replace(log,
        h('h2', null, `Deliveries of webhook ${id} `, refresh),
        rows.length
          ? h('div', { class: 'table-wrap' }, h('table', { class: 'deliveries' },
            h('thead', null, h('tr', null,
              h('th', { scope: 'col' }, 'Queued'),
              h('th', { scope: 'col' }, 'Action'),
              h('th', { scope: 'col' }, 'Status'),
              h('th', { scope: 'col' }, 'Attempts'),
              h('th', { scope: 'col' }, 'Last answer'),
              h('th', { scope: 'col' }, 'Next attempt'))),
            h('tbody', null, rows)))
          : h('p', { class: 'empty' }, 'No deliveries yet.'));
    } catch (e) {
      replace(log, loadError(`Could not load the deliveries: ${e instanceof Error ? e.message : e}`));
    }
  };

  /** @param {string} label @param {() => Promise<unknown>} act */
  const button = (label, act, extra = {}) => h('button', {
    type: 'button',
    class: 'button small',
    ...extra,
    onclick: async () => {
      replace(status);
      try {
        await act();
      } catch (e) {
        showError(status, e);
      }
      await load();
    },
  }, label);

  /** @param {any[]} hooks */
  const draw = (hooks) => {
    if (!hooks.length) {
      replace(table, h('p', { class: 'empty' }, 'No webhooks yet.'));
      return;
    }
    replace(table, h('table', { class: 'webhooks' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'URL'),
        h('th', { scope: 'col' }, 'Sends'),
        h('th', { scope: 'col' }, 'Format'),
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, hooks.map((w) => h('tr', { dataset: { webhook: String(w.id) } },
        h('th', { scope: 'row', class: 'mono' }, w.url),
        h('td', null, filters(w)),
        h('td', null, w.format),
        h('td', null, w.enabled
          ? h('span', { class: 'badge ok' }, 'enabled')
          : h('span', { class: 'badge danger' }, 'disabled'),
        w.failures ? h('div', { class: 'hint' }, `${w.failures} failed attempts in a row`) : null),
        h('td', null,
          button('Send test event', () => api.post(`/webhooks/${w.id}/test`), { 'aria-label': `Send a test event to webhook ${w.id}` }),
          button('Deliveries', () => showLog(w.id), { 'aria-label': `Deliveries of webhook ${w.id}` }),
          button(w.enabled ? 'Disable' : 'Enable', () => api.patch(`/webhooks/${w.id}`, { enabled: !w.enabled }),
            { 'aria-label': `${w.enabled ? 'Disable' : 'Enable'} webhook ${w.id}` }),
          h('button', {
            type: 'button',
            class: 'button small danger',
            'aria-label': `Delete webhook ${w.id}`,
            onclick: async () => {
              if (!(await confirmDialog(`Delete the webhook to ${w.url}? Deliveries not yet sent are dropped.`))) return;
              replace(status);
              try {
                await api.del(`/webhooks/${w.id}`);
                if (shown === w.id) {
                  shown = null;
                  replace(log);
                }
              } catch (e) {
                showError(status, e);
              }
              await load();
            },
          }, 'Delete')))))));
  };

  const url = h('input', { name: 'url', type: 'url', required: true, autocomplete: 'off', placeholder: 'http://hooks.internal/pennon' });
  const envs = h('input', { name: 'environments', autocomplete: 'off', placeholder: 'all' });
  const flags = h('input', { name: 'flags', autocomplete: 'off', placeholder: 'all' });
  const tags = h('input', { name: 'tags', autocomplete: 'off', placeholder: 'all' });
  const actions = h('input', { name: 'actions', autocomplete: 'off', placeholder: 'all, or e.g. config.toggle, config.*' });
  const format = h('select', { name: 'format' }, h('option', { value: 'pennon' }, 'Pennon JSON'), h('option', { value: 'slack' }, 'Slack text'));
  const form = h('form', { class: 'filters', 'aria-label': 'New webhook' },
    field('URL', url, { path: 'url' }),
    field('Environments', envs, { path: 'environments' }),
    field('Flags', flags, { path: 'flags' }),
    field('Tags', tags, { path: 'tags' }),
    field('Actions', actions, { path: 'actions' }),
    field('Format', format, { path: 'format' }),
    h('button', { type: 'submit', class: 'button primary' }, 'Create webhook'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api.post('/webhooks', {
        url: /** @type {HTMLInputElement} */ (url).value.trim(),
        environments: words(envs),
        flags: words(flags),
        tags: words(tags),
        actions: words(actions),
        format: /** @type {HTMLSelectElement} */ (format).value,
      });
      for (const input of [url, envs, flags, tags, actions]) /** @type {HTMLInputElement} */ (input).value = '';
      replace(secret, secretOnce(`Signing secret of webhook ${created.id}`, created.secret, () => replace(secret)));
      await load();
    } catch (err) {
      showError(form, err);
    }
  });

  replace(view,
    h('h1', null, 'Webhooks'),
    h('p', { class: 'hint' }, 'Every audited change a webhook selects is posted to its URL, signed with its secret (Pennon-Signature: sha256=HMAC of "<Pennon-Timestamp>.<body>"). Empty filters select everything.'),
    secret, status, form, table, log);
  await load();
  const reload = debounce(load);
  return onAudit((a) => {
    if (a.resource === 'webhook') reload();
  });
}
