// Individual targets: per variant, the context keys that always get it. Adding or removing a key replaces the
// targets with PUT .../targets, so the server's paths (`targets[1].keys[3]`) name the variant's list.

import { api } from '../../api.js';
import { append, h } from '../../dom.js';
import { variantLabel } from './serve.js';

/** @param {import('./targeting.js').Ctx} ctx */
export function targetsSection(ctx) {
  /** @type {{variant: string, keys: string[]}[]} */
  const targets = ctx.config.targets ?? [];
  const section = h('section', { class: 'card', 'aria-labelledby': 'targets-title', dataset: { section: 'targets' } },
    h('h2', { id: 'targets-title' }, 'Individual targets'),
    h('p', { class: 'hint' }, 'These context keys get the variant named, before any rule is tried.'));
  const grid = h('div', { class: 'targets' });
  section.append(grid);

  /**
   * The targets with one variant's keys changed (variants left with no keys are dropped).
   * @param {string} variant @param {(keys: string[]) => string[]} change
   */
  const changed = (variant, change) => {
    const next = targets.map((t) => ({ variant: t.variant, keys: [...t.keys] }));
    let at = next.findIndex((t) => t.variant === variant);
    if (at < 0) {
      next.push({ variant, keys: [] });
      at = next.length - 1;
    }
    next[at].keys = change(next[at].keys);
    return { targets: next.filter((t) => t.keys.length) };
  };

  for (const v of ctx.flag.variants) {
    const keys = targets.find((t) => t.variant === v.key)?.keys ?? [];
    const box = h('div', { class: 'target', dataset: { variant: v.key } });
    const input = /** @type {HTMLInputElement} */ (h('input', { type: 'text', autocomplete: 'off', placeholder: 'user-42', 'aria-label': `Context key to serve ${v.key}` }));
    const addField = h('div', { class: 'field' }, h('div', { class: 'inline' }, input,
      h('button', { type: 'submit', class: 'button small' }, ctx.proposes ? 'Propose' : 'Add')), h('p', { class: 'field-error', hidden: true }));
    const add = h('form', { class: 'target-add' }, addField);
    add.addEventListener('submit', async (e) => {
      e.preventDefault();
      const typed = input.value.split(/[\s,]+/).map((k) => k.trim()).filter(Boolean);
      if (!typed.length) return;
      const body = changed(v.key, (list) => [...list, ...typed.filter((k) => !list.includes(k))]);
      addField.dataset.path = `targets[${body.targets.findIndex((t) => t.variant === v.key)}]`;
      ctx.focusAfter = [`[data-section="targets"] [data-variant="${CSS.escape(v.key)}"] input`];
      await ctx.write(box, (version) => api.put(`${ctx.base}/targets`, body, version));
    });
    ctx.track(add);
    append(box, [
      h('h3', null, 'Serve ', h('span', { class: 'mono' }, variantLabel(v)), h('span', { class: 'count' }, ` (${keys.length})`)),
      keys.length
        ? h('ul', { class: 'keys' }, keys.map((k) => h('li', null, h('span', { class: 'mono' }, k),
          ctx.canEdit ? h('button', {
            type: 'button', class: 'button small subtle', 'aria-label': `Remove ${k} from ${v.key}`,
            onclick: async () => {
              const body = changed(v.key, (list) => list.filter((x) => x !== k));
              ctx.focusAfter = [`[data-section="targets"] [data-variant="${CSS.escape(v.key)}"] input`];
              await ctx.write(box, (version) => api.put(`${ctx.base}/targets`, body, version));
            },
          }, '×') : null)))
        : h('p', { class: 'empty' }, 'No one.'),
      ctx.canEdit ? add : null]);
    grid.append(box);
  }
  return section;
}
