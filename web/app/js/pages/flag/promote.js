// Copying this environment's config of a flag to another environment (POST /flags/{flag}/promote): on/off,
// targets, rules, default, prerequisites and off variant become a new version there. It always asks first,
// naming a production target as such.

import { api, isChangeRequest, seg } from '../../api.js';
import { h, replace, uid } from '../../dom.js';
import { confirmDialog, isConflict, showError } from '../../forms.js';
import { environments } from '../../environments.js';
import { proposedNotice } from './approvals.js';

/** @param {import('./targeting.js').Ctx} ctx */
export function promoteSection(ctx) {
  const others = environments.list.filter((e) => e.key !== ctx.env);
  if (!ctx.canEdit || !others.length) return null;
  const id = uid('promote');
  const target = /** @type {HTMLSelectElement} */ (h('select', { id }, others.map((e) =>
    h('option', { value: e.key }, e.production ? `${e.name} (production)` : e.name))));
  const status = h('div', { role: 'status' });
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'button' }, 'Copy config'));
  const form = h('form', { class: 'inline-form promote' },
    h('div', { class: 'field' }, h('label', { for: id }, 'Copy this config to'), target),
    button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const to = environments.byKey(target.value);
    if (!to) return;
    const from = ctx.environment?.name ?? ctx.env;
    const question = `Copy ${ctx.flag.key}'s config in ${from} (${ctx.config.enabled ? 'on' : 'off'}, its targets, rules and default) to ${to.name}${to.production ? ', a production environment' : ''}? It replaces what ${to.name} has now, as a new version there.`;
    if (!(await confirmDialog(question))) return;
    button.disabled = true;
    replace(status);
    try {
      const version = ctx.flag.environments?.[to.key]?.version;
      const copied = await api.post(`/flags/${seg(ctx.flag.key)}/promote`, { from: ctx.env, to: to.key }, version);
      // Where the target requires approvals, the copy is proposed there, not made.
      if (isChangeRequest(copied) && copied.state !== 'applied') replace(status, proposedNotice(copied));
      else replace(status, h('p', { class: 'alert alert-ok' }, `Copied to ${to.name}: now version ${copied.version} there. `,
        h('a', { href: `#/flags/${seg(ctx.flag.key)}?env=${seg(to.key)}` }, `Open it in ${to.name}`)));
    } catch (err) {
      showError(status, isConflict(err) ? new Error(`${to.name}'s config changed meanwhile; reload the page and try again.`) : err);
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': `${id}-title`, dataset: { section: 'promote' } },
    h('h2', { id: `${id}-title` }, 'Promote'),
    h('p', { class: 'hint' }, 'Copy what this flag does here to another environment, e.g. from staging to production.'),
    form, status);
}
