// The rules of a flag in one environment, tried in order: each one's conditions, segments and what it serves;
// editors add, edit, remove and move them up or down (buttons, so the keyboard can do it too).

import { api, seg } from '../../api.js';
import { h, replace } from '../../dom.js';
import { confirmDialog } from '../../forms.js';
import { conditionText } from './conditions.js';
import { ruleForm } from './rule-form.js';
import { serveText } from './serve.js';

/** @param {import('./targeting.js').Ctx} ctx */
export function rulesSection(ctx) {
  const rules = /** @type {any[]} */ (ctx.config.rules);
  const list = h('ol', { class: 'rules' });
  const section = h('section', { class: 'card', 'aria-labelledby': 'rules-title', dataset: { section: 'rules' } },
    h('div', { class: 'section-head' },
      h('h2', { id: 'rules-title' }, 'Rules'),
      ctx.canEdit ? h('button', { type: 'button', class: 'button', onclick: () => openNew() }, 'Add rule') : null),
    h('p', { class: 'hint' }, 'Tried in order after the individual targets; the first rule that matches serves.'),
    list);
  const newSlot = h('div', { class: 'new-rule' });
  section.append(newSlot);

  rules.forEach((rule, i) => list.append(ruleItem(ctx, rule, i)));
  if (!rules.length) list.append(h('li', { class: 'empty' }, 'No rules: everyone not targeted gets the default.'));

  function openNew() {
    const form = ruleForm(ctx, null, rules.length, () => ctx.discard(form));
    replace(newSlot, form);
    form.querySelector('input')?.focus();
  }
  return section;
}

/**
 * @param {import('./targeting.js').Ctx} ctx
 * @param {any} rule @param {number} i
 */
function ruleItem(ctx, rule, i) {
  const rules = /** @type {any[]} */ (ctx.config.rules);
  const item = h('li', { class: 'rule', dataset: { rule: rule.id, path: `rules[${i}]` } });
  const conditions = rule.conditions ?? [];
  const segments = rule.segments ?? [];
  const move = async (/** @type {number} */ by) => {
    const order = rules.map((r) => r.id);
    order.splice(i, 1);
    order.splice(i + by, 0, rule.id);
    const at = `[data-rule="${CSS.escape(rule.id)}"]`;
    ctx.focusAfter = by < 0 ? [`${at} [data-move="up"]`, `${at} [data-move="down"]`] : [`${at} [data-move="down"]`, `${at} [data-move="up"]`];
    await ctx.write(item, (version) => api.post(`${ctx.base}/rules/reorder`, { order }, version));
  };
  const edit = () => {
    const form = ruleForm(ctx, rule, i, () => ctx.discard(form));
    replace(item, form);
    form.querySelector('input')?.focus();
  };
  const remove = async () => {
    if (!(await confirmDialog(`Remove the rule ${rule.id}${ctx.environment?.production ? ` in ${ctx.environment.name}, a production environment` : ''}?`))) return;
    await ctx.write(item, (version) => api.del(`${ctx.base}/rules/${seg(rule.id)}`, version), true);
  };
  replace(item,
    h('div', { class: 'rule-head' },
      h('h3', null, h('span', { class: 'rule-index' }, `${i + 1}.`), ' ', rule.id),
      rule.description ? h('p', { class: 'hint' }, rule.description) : null),
    h('ul', { class: 'rule-body' },
      conditions.map((/** @type {any} */ c) => h('li', { class: 'cond' }, h('span', { class: 'mono' }, conditionText(c)))),
      segments.map((/** @type {string} */ s) => h('li', { class: 'cond' }, 'in segment ', h('a', { href: `#/segments/${seg(s)}` }, s))),
      !conditions.length && !segments.length ? h('li', { class: 'cond' }, 'every context') : null),
    h('p', { class: 'rule-serve' }, 'Serve: ', h('strong', null, serveText(rule.serve))),
    ctx.canEdit ? h('div', { class: 'actions rule-actions' },
      h('button', { type: 'button', class: 'button small', dataset: { move: 'up' }, disabled: i === 0, 'aria-label': `Move rule ${rule.id} up`, onclick: () => move(-1) }, '↑ Up'),
      h('button', { type: 'button', class: 'button small', dataset: { move: 'down' }, disabled: i === rules.length - 1, 'aria-label': `Move rule ${rule.id} down`, onclick: () => move(1) }, '↓ Down'),
      h('button', { type: 'button', class: 'button small', 'aria-label': `Edit rule ${rule.id}`, onclick: edit }, 'Edit'),
      h('button', { type: 'button', class: 'button small danger', 'aria-label': `Remove rule ${rule.id}`, onclick: remove }, 'Remove')) : null);
  return item;
}
