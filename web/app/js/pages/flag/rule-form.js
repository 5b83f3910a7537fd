// Adding or editing one rule: its id and description, its conditions, the segments a context must be in, and
// what it serves. Controls carry the API's paths for the rule's place in the config (`rules[2].conditions[0].values`),
// which is how the server names problems for both POST .../rules and PUT .../rules/{id}.

import { api, seg } from '../../api.js';
import { field, h, uid } from '../../dom.js';
import { showError } from '../../forms.js';
import { conditionRow } from './conditions.js';
import { fieldset, serveEditor } from './serve.js';

/**
 * @param {import('./targeting.js').Ctx} ctx
 * @param {any} rule the rule to edit, or null for a new one
 * @param {number} index its place in the config (the end for a new rule)
 * @param {() => void} close called on Cancel
 */
export function ruleForm(ctx, rule, index, close) {
  const path = `rules[${index}]`;
  const taken = new Set(ctx.config.rules.map((/** @type {any} */ r) => r.id));
  let n = ctx.config.rules.length + 1;
  while (taken.has(`rule-${n}`)) n += 1;
  const id = h('input', { type: 'text', value: rule?.id ?? `rule-${n}`, autocomplete: 'off', required: true });
  const description = h('input', { type: 'text', value: rule?.description ?? '' });

  /** @type {ReturnType<typeof conditionRow>[]} */
  const rows = [];
  const list = h('div', { class: 'conditions' });
  const renumber = () => rows.forEach((r, j) => r.setPath(`${path}.conditions[${j}]`));
  const addRow = (/** @type {any} */ c) => {
    const row = conditionRow(c, () => {
      rows.splice(rows.indexOf(row), 1);
      row.el.remove();
      renumber();
      form.dispatchEvent(new Event('input', { bubbles: true }));
      addButton.focus();
    });
    rows.push(row);
    list.append(row.el);
    renumber();
    return row;
  };
  const addButton = h('button', { type: 'button', class: 'button small' }, 'Add condition');
  addButton.addEventListener('click', () => {
    const row = addRow(undefined);
    row.el.querySelector('input')?.focus();
  });
  for (const c of rule?.conditions ?? []) addRow(c);

  const chosen = new Set(rule?.segments ?? []);
  const segmentKeys = [...ctx.segments.map((s) => s.key), ...[...chosen].filter((k) => !ctx.segments.some((s) => s.key === k))];
  /** @type {HTMLInputElement[]} */
  const segmentBoxes = segmentKeys.map((k) => /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', value: k, checked: chosen.has(k) })));
  const segments = fieldset('Segments (the context must be in every one chosen)', `${path}.segments`,
    segmentKeys.length
      ? h('div', { class: 'segment-list' }, segmentBoxes.map((box, i) => {
        const s = ctx.segments.find((x) => x.key === segmentKeys[i]);
        return h('label', { class: 'check' }, box, ` ${s?.name && s.name !== s.key ? `${s.name} (${s.key})` : segmentKeys[i]}`);
      }))
      : h('p', { class: 'hint' }, 'No segments yet. ', h('a', { href: '#/segments' }, 'Define segments'), ' to use them in rules.'));

  const serve = serveEditor(ctx.flag, rule?.serve ?? { variant: ctx.flag.variants[0]?.key }, `${path}.serve`, 'Serve');
  const legendId = uid('rule');
  const form = h('form', { class: 'rule-form card', 'aria-labelledby': legendId, dataset: { path } },
    h('h3', { id: legendId }, rule ? `Edit rule ${rule.id}` : 'New rule'),
    h('div', { class: 'row' },
      field('Rule id', id, { path: `${path}.id`, hint: 'Lower case letters, digits, dot, dash, underscore.' }),
      field('Description', description, { path: `${path}.description` })),
    h('fieldset', { class: 'group' }, h('legend', null, 'Conditions (all must hold)'), list,
      h('div', { class: 'field', dataset: { path: `${path}.conditions` } }, addButton, h('p', { class: 'field-error', hidden: true }))),
    segments,
    serve.el,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button subtle', onclick: close }, 'Cancel'),
      h('button', { type: 'submit', class: 'button primary' }, ctx.proposes ? 'Propose change' : rule ? 'Save rule' : 'Add rule')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {any} */
    let body;
    try {
      body = {
        id: /** @type {HTMLInputElement} */ (id).value.trim(),
        description: /** @type {HTMLInputElement} */ (description).value.trim(),
        conditions: rows.map((r) => r.value()),
        segments: segmentBoxes.filter((b) => b.checked).map((b) => b.value),
        serve: serve.value(),
      };
    } catch (err) {
      showError(form, err);
      return;
    }
    await ctx.write(form, (version) => (rule
      ? api.put(`${ctx.base}/rules/${seg(rule.id)}`, body, version)
      : api.post(`${ctx.base}/rules`, body, version)));
  });
  ctx.track(form);
  return form;
}
