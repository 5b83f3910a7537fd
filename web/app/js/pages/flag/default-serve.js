// The default: what a context gets when no target and no rule matched — a variant, or a percentage split
// (a boolean flag's rollout percentage, or a percentage per variant adding up to 100).

import { api } from '../../api.js';
import { h } from '../../dom.js';
import { confirmDialog, showError } from '../../forms.js';
import { serveEditor, serveText } from './serve.js';

/** @param {import('./targeting.js').Ctx} ctx */
export function defaultSection(ctx) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'default-title', dataset: { section: 'default' } },
    h('h2', { id: 'default-title' }, 'Default'),
    h('p', null, 'Everyone else gets: ', h('strong', { class: 'default-now' }, serveText(ctx.config.default))));
  if (!ctx.canEdit) return section;
  const editor = serveEditor(ctx.flag, ctx.config.default, 'default', 'Default serve');
  const plan = ctx.delivery.plan;
  const planRuns = plan && (plan.state === 'running' || plan.state === 'paused');
  const form = h('form', { class: 'default-form' }, editor.el,
    planRuns ? h('p', { class: 'alert alert-info plan-warning' }, `A rollout plan is ${plan.state}: its next step replaces the default you save here.`) : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary' }, ctx.proposes ? 'Propose change' : 'Save default')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {any} */
    let body;
    try {
      body = editor.value();
    } catch (err) {
      showError(form, err);
      return;
    }
    const production = ctx.environment?.production ? ` This is ${ctx.environment.name}, a production environment.` : '';
    if (planRuns && !(await confirmDialog(`A rollout plan is ${plan.state} on ${ctx.flag.key} here: its next step replaces this default. Save it anyway?${production}`))) return;
    await ctx.write(form, (version) => api.put(`${ctx.base}/default`, body, version), planRuns);
  });
  ctx.track(form);
  section.append(form);
  return section;
}
