// Prerequisites: flags that must serve a given variant for this one to be on. Picked from the existing flags
// and their variants; saved with PUT .../prerequisites (the server refuses cycles at `prerequisites[i].flag`).

import { api, seg } from '../../api.js';
import { field, h, replace } from '../../dom.js';
import { variantLabel } from './serve.js';

/** @param {import('./targeting.js').Ctx} ctx */
export function prerequisitesSection(ctx) {
  /** @type {{flag: string, variant: string}[]} */
  const prerequisites = ctx.config.prerequisites ?? [];
  const section = h('section', { class: 'card', 'aria-labelledby': 'prereq-title', dataset: { section: 'prerequisites' } },
    h('h2', { id: 'prereq-title' }, 'Prerequisites'),
    h('p', { class: 'hint' }, 'When one of these flags does not serve the variant named, this flag serves its off variant.'));
  const save = (/** @type {{flag: string, variant: string}[]} */ next, /** @type {HTMLElement} */ root) =>
    ctx.write(root, (version) => api.put(`${ctx.base}/prerequisites`, { prerequisites: next }, version));

  section.append(prerequisites.length
    ? h('ul', { class: 'prereqs' }, prerequisites.map((p, i) => {
      const item = h('li', { dataset: { path: `prerequisites[${i}]`, prerequisite: p.flag } },
        h('a', { href: `#/flags/${seg(p.flag)}` }, p.flag), ' serves ', h('strong', { class: 'mono' }, p.variant),
        ctx.canEdit ? h('button', {
          type: 'button', class: 'button small subtle', 'aria-label': `Remove prerequisite ${p.flag}`,
          onclick: () => save(prerequisites.filter((_, j) => j !== i), item),
        }, 'Remove') : null);
      return item;
    }))
    : h('p', { class: 'empty' }, 'None.'));
  if (!ctx.canEdit) return section;

  const others = ctx.flags.filter((f) => f.key !== ctx.flag.key && !prerequisites.some((p) => p.flag === f.key));
  if (!others.length) {
    section.append(h('p', { class: 'hint' }, 'No other flag to depend on.'));
    return section;
  }
  const at = `prerequisites[${prerequisites.length}]`;
  const flag = /** @type {HTMLSelectElement} */ (h('select', null, others.map((f) => h('option', { value: f.key }, f.name && f.name !== f.key ? `${f.key} (${f.name})` : f.key))));
  const variant = /** @type {HTMLSelectElement} */ (h('select'));
  const fillVariants = () => {
    const chosen = others.find((f) => f.key === flag.value);
    replace(variant, (chosen?.variants ?? []).map((/** @type {any} */ v) => h('option', { value: v.key, selected: v.key === 'on' }, variantLabel(v))));
  };
  flag.addEventListener('change', fillVariants);
  fillVariants();
  const form = h('form', { class: 'inline-form' },
    field('Flag', flag, { path: `${at}.flag` }),
    field('Must serve', variant, { path: `${at}.variant` }),
    h('button', { type: 'submit', class: 'button' }, 'Add prerequisite'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.focusAfter = ['[data-section="prerequisites"] select'];
    void save([...prerequisites, { flag: flag.value, variant: variant.value }], form);
  });
  ctx.track(form);
  section.append(form);
  return section;
}
