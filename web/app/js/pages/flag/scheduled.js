// Scheduled changes of the config in this environment: turn the flag on or off at a time, and the changes
// still waiting, each with Cancel. The server validates and applies them (see docs/operations.md).

import { api } from '../../api.js';
import { field, h, replace, time } from '../../dom.js';
import { clearErrors, showError } from '../../forms.js';
import { who } from '../sentences.js';

/** What a kept change does, in words. @param {any} change */
function describe(change) {
  switch (change.kind) {
    case 'toggle': return change.enabled ? 'Turn on' : 'Turn off';
    case 'default': return 'Set the default';
    case 'targets': return 'Replace the individual targets';
    case 'rules': return 'Replace the rules';
    default: return 'Replace the whole config';
  }
}

/** @param {import('./targeting.js').Ctx} ctx */
export function scheduledSection(ctx) {
  const path = `${ctx.base}/scheduled-changes`;
  const section = h('section', { class: 'card scheduled', 'aria-labelledby': 'scheduled-title', dataset: { section: 'scheduled' } },
    h('h2', { id: 'scheduled-title' }, 'Scheduled changes'));
  const list = h('ul', { class: 'scheduled-list', 'aria-live': 'polite' });

  async function load() {
    try {
      const page = await api.get(path, { state: 'pending' });
      const items = page.items.map((/** @type {any} */ c) => h('li', { class: 'scheduled-item', dataset: { id: String(c.id) } },
        h('strong', {}, describe(c.change)), ` at ${time(c.at)}`,
        h('span', { class: 'hint' }, ` by ${who(c.author)}${c.comment ? ` — ${c.comment}` : ''}`),
        ctx.canEdit
          ? h('button', {
            type: 'button',
            class: 'button small subtle',
            'aria-label': `Cancel: ${describe(c.change)} at ${time(c.at)}`,
            onclick: async () => {
              try {
                await api.del(`${path}/${c.id}`, c.version);
              } catch (e) {
                showError(section, e);
              }
              await load();
            },
          }, 'Cancel')
          : null));
      replace(list, ...(items.length ? items : [h('li', { class: 'empty' }, 'Nothing is scheduled.')]));
    } catch (e) {
      showError(section, e);
    }
  }

  section.append(list);
  if (ctx.canEdit) {
    const when = /** @type {HTMLInputElement} */ (h('input', { type: 'datetime-local', required: true }));
    const what = /** @type {HTMLSelectElement} */ (h('select', {},
      h('option', { value: 'on' }, 'Turn on'), h('option', { value: 'off' }, 'Turn off')));
    const comment = /** @type {HTMLInputElement} */ (h('input', { type: 'text', maxlength: '1000' }));
    const form = h('form', { class: 'scheduled-form', novalidate: true },
      field('Change', what, { path: 'change' }),
      field('When', when, { path: 'at', hint: 'Your local time' }),
      field('Comment', comment, { path: 'comment' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary' }, 'Schedule')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const at = new Date(when.value);
      if (Number.isNaN(at.getTime())) {
        showError(form, new Error('Pick a time.'));
        return;
      }
      try {
        await api.post(path, { at: at.toISOString(), change: { kind: 'toggle', enabled: what.value === 'on' }, comment: comment.value || undefined });
        comment.value = '';
        await load();
      } catch (e) {
        showError(form, e);
      }
    });
    section.append(form);
  }
  load();
  return section;
}
