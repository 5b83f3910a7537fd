// The Triggers tab: the flag's trigger URLs in the environment shown. A POST to one (from an alerting system,
// a script) turns the flag off or on; editors create them (the URL is shown once, with a copy button) and
// revoke them, viewers see the list.

import { api, ApiError, seg } from '../../api.js';
import { field, h, loadError, replace, time } from '../../dom.js';
import { environments } from '../../environments.js';
import { confirmDialog, showError } from '../../forms.js';
import { debounce, onAudit } from '../../live.js';
import { current, navigate } from '../../router.js';
import { session } from '../../session.js';
import { secretOnce } from '../secret-once.js';
import { flagHeader, pageEnvironment } from './header.js';
import { openFlag } from './open.js';

const RESOLVED_TEXT = { none: 'nothing', on: 'turn it on', off: 'turn it off' };

/** @param {any} t a trigger */
const triggerName = (t) => t.name ?? `#${t.id}`;

/** @type {import('../../router.js').Page} */
export async function triggersPage(view, params, query) {
  const env = pageEnvironment(query);
  const flag = await openFlag(view, params.flag);
  if (!flag) return;
  const base = `/flags/${seg(flag.key)}/environments/${seg(env)}/triggers`;
  const secret = h('div', { class: 'secret-slot' });
  const status = h('div');
  const list = h('div', { class: 'table-wrap triggers', 'aria-live': 'polite', 'aria-busy': 'true' });

  const load = async () => {
    try {
      const { items } = await api.get(base);
      draw(items);
    } catch (err) {
      replace(list, loadError(`Could not load the triggers: ${err instanceof ApiError || err instanceof Error ? err.message : err}`));
    }
    list.setAttribute('aria-busy', 'false');
  };

  /** @param {any[]} items */
  const draw = (items) => {
    if (!items.length) {
      replace(list, h('p', { class: 'empty card' }, `No triggers on ${flag.key} in this environment.`));
      return;
    }
    replace(list, h('table', { class: 'keys' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'Does'),
        h('th', { scope: 'col' }, 'When resolved'),
        h('th', { scope: 'col' }, 'URL'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col' }, 'Last changed the flag'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, items.map((t) => h('tr', { dataset: { trigger: String(t.id) } },
        h('th', { scope: 'row' }, triggerName(t)),
        h('td', null, h('span', { class: `badge ${t.action === 'off' ? 'danger' : 'ok'}` }, `turn ${t.action}`)),
        h('td', null, RESOLVED_TEXT[/** @type {keyof RESOLVED_TEXT} */ (t.on_resolved)] ?? t.on_resolved),
        h('td', { class: 'mono' }, `…/triggers/${t.prefix}…`),
        h('td', null, time(t.created_at), h('div', { class: 'hint' }, t.created_by)),
        h('td', null, t.last_fired_at ? time(t.last_fired_at) : h('span', { class: 'hint' }, 'never')),
        h('td', { class: 'row-actions' }, session.can('editor')
          ? h('button', { type: 'button', class: 'button small danger', 'aria-label': `Revoke trigger ${triggerName(t)}`, onclick: () => revoke(t) }, 'Revoke')
          : null))))));
  };

  /** @param {any} t */
  const revoke = async (t) => {
    if (!(await confirmDialog(`Revoke the trigger ${triggerName(t)} of ${flag.key}? Its URL stops working at once.`))) return;
    try {
      await api.del(`${base}/${t.id}`);
      await load();
    } catch (err) {
      showError(status, err);
    }
  };

  /** @type {HTMLElement | null} */
  let form = null;
  if (session.can('editor')) {
    const name = h('input', { name: 'name', autocomplete: 'off', placeholder: 'e.g. checkout-errors' });
    const action = h('select', { name: 'action' },
      h('option', { value: 'off' }, 'Turn the flag off'),
      h('option', { value: 'on' }, 'Turn the flag on'));
    const onResolved = h('select', { name: 'on_resolved' },
      h('option', { value: 'none' }, 'Nothing'),
      h('option', { value: 'on' }, 'Turn the flag on'),
      h('option', { value: 'off' }, 'Turn the flag off'));
    form = h('form', { class: 'filters new-trigger', 'aria-label': 'New trigger' },
      field('Trigger name', name, { path: 'name' }),
      field('A POST does', action, { path: 'action' }),
      field('An Alertmanager "resolved" does', onResolved, { path: 'on_resolved' }),
      h('button', { type: 'submit', class: 'button primary' }, 'Create trigger'));
    const theForm = form;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const named = /** @type {HTMLInputElement} */ (name).value.trim();
      try {
        const created = await api.post(base, {
          action: /** @type {HTMLSelectElement} */ (action).value,
          on_resolved: /** @type {HTMLSelectElement} */ (onResolved).value,
          ...(named ? { name: named } : {}),
        });
        /** @type {HTMLInputElement} */ (name).value = '';
        replace(secret, secretOnce(`Trigger URL ${triggerName(created)}`, created.url || `${location.origin}${created.path}`, () => replace(secret)));
        /** @type {HTMLElement | null} */ (secret.querySelector('input'))?.focus();
        await load();
      } catch (err) {
        showError(theForm, err);
      }
    });
  }

  replace(view, flagHeader(flag, '/triggers', env),
    h('section', { class: 'card', 'aria-labelledby': 'triggers-title' },
      h('h2', { id: 'triggers-title' }, 'Triggers'),
      h('p', { class: 'hint' }, `A POST to a trigger's URL turns ${flag.key} off (or on) here, with no other credential: point an alerting system or a script at it. An Alertmanager notification acts when firing and does what you chose when resolved.`),
      secret, status, form),
    list);

  await load();
  const reload = debounce(() => void load(), 200);
  const stopAudit = onAudit((a) => {
    if (a.flag === flag.key && a.environment === env) reload();
  });
  const stopEnv = environments.onChange(() => {
    if (environments.current !== env) navigate(current().path);
  });
  return () => {
    stopAudit();
    stopEnv();
  };
}
