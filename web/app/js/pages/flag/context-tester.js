// "Test a context": a context key and attributes in, what the flag serves it in this environment out — the
// value, the variant and the reason — through `POST /evaluate`, with the rule (or target, or default) that
// decided it highlighted on the page.

import { api } from '../../api.js';
import { field, h, replace, uid } from '../../dom.js';
import { showError } from '../../forms.js';

/** Words for the reasons an evaluation gives. */
const REASONS = {
  OFF: 'the flag is off in this environment',
  PREREQUISITE_FAILED: 'a prerequisite flag does not serve what this flag needs',
  TARGET_MATCH: 'the context key is targeted individually',
  RULE_MATCH: 'a rule matched',
  FALLTHROUGH: 'no target or rule matched, so the default serves',
  ERROR: 'the flag could not be evaluated',
};

/** An attribute value as typed: numbers and true/false as such, anything else as text. @param {string} text */
export function attributeValue(text) {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  return t;
}

/**
 * @param {import('./targeting.js').Ctx} ctx
 * @param {HTMLElement} page the page whose rule, target or default is highlighted
 */
export function contextTester(ctx, page) {
  const key = h('input', { type: 'text', name: 'context-key', value: 'user-1', autocomplete: 'off' });
  const rows = h('div', { class: 'attributes' });
  const addRow = (/** @type {string} */ name = '', /** @type {string} */ value = '') => {
    const n = h('input', { type: 'text', value: name, placeholder: 'country', autocomplete: 'off', 'aria-label': 'Attribute name' });
    const v = h('input', { type: 'text', value, placeholder: 'DE', autocomplete: 'off', 'aria-label': 'Attribute value' });
    const row = h('div', { class: 'attribute-row' }, n, v,
      h('button', { type: 'button', class: 'button small subtle', 'aria-label': 'Remove attribute', onclick: () => row.remove() }, '×'));
    rows.append(row);
    return n;
  };
  addRow();
  const result = h('div', { class: 'eval-result', 'aria-live': 'polite' });
  const submit = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'button primary' }, 'Evaluate'));
  const form = h('form', { class: 'context-form' },
    field('Context key', key, { path: 'context.key' }),
    h('fieldset', { class: 'field group', dataset: { path: 'context.attributes' } }, h('legend', null, 'Attributes'), rows,
      h('button', { type: 'button', class: 'button small', onclick: () => addRow().focus() }, 'Add attribute'),
      h('p', { class: 'field-error', hidden: true })),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {Record<string, any>} */
    const attributes = {};
    rows.querySelectorAll('.attribute-row').forEach((row) => {
      const [n, v] = /** @type {HTMLInputElement[]} */ ([...row.querySelectorAll('input')]);
      if (n.value.trim()) attributes[n.value.trim()] = attributeValue(v.value);
    });
    submit.disabled = true;
    replace(result, h('p', { class: 'loading' }, 'Evaluating…'));
    try {
      const answer = await api.post('/evaluate', {
        environment: ctx.env,
        flag: ctx.flag.key,
        context: { key: /** @type {HTMLInputElement} */ (key).value.trim(), attributes },
      });
      show(answer);
    } catch (err) {
      replace(result);
      showError(form, err);
    } finally {
      submit.disabled = false;
    }
  });

  /** @param {any} answer the evaluation */
  function show(answer) {
    const reason = answer.reason ?? {};
    page.querySelectorAll('.matched').forEach((el) => el.classList.remove('matched'));
    /** @type {Element | null} */
    let decided = null;
    if (reason.kind === 'RULE_MATCH') decided = page.querySelector(`[data-rule="${CSS.escape(reason.rule_id)}"]`);
    else if (reason.kind === 'TARGET_MATCH') decided = page.querySelector(`[data-section="targets"] [data-variant="${CSS.escape(answer.variant)}"]`);
    else if (reason.kind === 'FALLTHROUGH') decided = page.querySelector('[data-section="default"]');
    else if (reason.kind === 'OFF') decided = page.querySelector('[data-section="status"]');
    else if (reason.kind === 'PREREQUISITE_FAILED') decided = page.querySelector(`[data-prerequisite="${CSS.escape(reason.flag ?? '')}"]`);
    decided?.classList.add('matched');
    const why = REASONS[/** @type {keyof REASONS} */ (reason.kind)] ?? reason.kind;
    replace(result, h('dl', { class: 'eval-answer' },
      h('dt', null, 'Value'), h('dd', { class: 'mono eval-value' }, JSON.stringify(answer.value)),
      h('dt', null, 'Variant'), h('dd', { class: 'mono eval-variant' }, answer.variant ?? '—'),
      h('dt', null, 'Reason'), h('dd', { class: 'eval-reason' },
        h('code', null, reason.kind), ` — ${why}`,
        reason.rule_id ? [': ', h('strong', null, `rule ${(reason.rule_index ?? 0) + 1}, ${reason.rule_id}`)] : null,
        reason.flag ? [': ', h('strong', null, reason.flag)] : null,
        typeof reason.bucket === 'number' ? ` (bucket ${reason.bucket} of 100000)` : null,
        reason.error ? ` (${reason.error})` : null)),
    decided ? h('p', { class: 'hint' }, 'What decided it is highlighted on this page.') : null);
  }

  const id = uid('tester');
  return h('section', { class: 'card tester', 'aria-labelledby': id, dataset: { section: 'tester' } },
    h('h2', { id }, 'Test a context'),
    h('p', { class: 'hint' }, 'What this flag serves a context in this environment, and why.'),
    form, result);
}
