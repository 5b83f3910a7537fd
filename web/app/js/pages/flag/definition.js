// The flag definition shared by every environment: its variants, and for editors its name, description and
// tags; archiving, unarchiving, and deleting an archived flag.

import { api, seg } from '../../api.js';
import { field, h, replace } from '../../dom.js';
import { banner, clearErrors, confirmDialog, isConflict, showError } from '../../forms.js';
import { navigate } from '../../router.js';
import { variantsEditor } from '../variants-editor.js';

/** @param {import('./targeting.js').Ctx} ctx */
export function definitionSection(ctx) {
  const { flag } = ctx;
  const section = h('section', { class: 'card', 'aria-labelledby': 'variants-title', dataset: { section: 'definition' } },
    h('div', { class: 'section-head' },
      h('h2', { id: 'variants-title' }, 'Variants'),
      ctx.canEditDefinition ? h('div', { class: 'actions' },
        flag.archived ? null : h('button', { type: 'button', class: 'button', onclick: () => openEdit() }, 'Edit definition'),
        h('button', { type: 'button', class: 'button', onclick: () => archive(!flag.archived) }, flag.archived ? 'Unarchive' : 'Archive'),
        flag.archived ? h('button', { type: 'button', class: 'button danger', onclick: () => remove() }, 'Delete flag') : null) : null),
    h('div', { class: 'table-wrap' }, h('table', { class: 'variants' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', null, flag.variants.map((/** @type {any} */ v) => h('tr', null,
        h('th', { scope: 'row', class: 'mono' }, v.key), h('td', null, v.name ?? ''), h('td', { class: 'mono' }, JSON.stringify(v.value))))))));
  const slot = h('div');
  section.append(slot);

  function openEdit() {
    const name = h('input', { type: 'text', value: flag.name });
    const description = h('textarea', { rows: 2 }, flag.description);
    const tags = h('input', { type: 'text', value: flag.tags.join(', ') });
    // A boolean flag's variants are on and off for good; other kinds edit theirs here.
    const variants = flag.kind === 'boolean' ? null : variantsEditor(flag.kind, flag.variants);
    const form = h('form', { class: 'definition-form' },
      field('Name', name, { path: 'name' }),
      field('Description', description, { path: 'description' }),
      field('Tags (comma-separated)', tags, { path: 'tags' }),
      variants?.el,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button subtle', onclick: () => ctx.discard(form) }, 'Cancel'),
        h('button', { type: 'submit', class: 'button primary' }, 'Save definition')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const value = (/** @type {any} */ el) => el.value.trim();
      /** @type {any} */
      const body = {
        name: value(name),
        description: value(description),
        tags: value(tags).split(',').map((/** @type {string} */ t) => t.trim()).filter(Boolean),
      };
      await send(form, () => {
        if (variants) body.variants = variants.value();
        return api.patch(`/flags/${seg(flag.key)}`, body, flag.version);
      });
    });
    ctx.track(form);
    replace(slot, form);
    name.focus();
  }

  /** @param {boolean} on */
  async function archive(on) {
    if (on && !(await confirmDialog(`Archive ${flag.key}? It leaves every environment's snapshot: SDKs stop seeing it.`))) return;
    await send(section, () => api.post(`/flags/${seg(flag.key)}/${on ? 'archive' : 'unarchive'}`));
  }

  async function remove() {
    if (!(await confirmDialog(`Delete ${flag.key} for good, in every environment?`))) return;
    try {
      await api.del(`/flags/${seg(flag.key)}`);
      navigate('/flags');
    } catch (e) {
      showError(section, e);
    }
  }

  /** The definition's writes: errors at their fields; a stale version names who changed it. @param {HTMLElement} root @param {() => Promise<any>} call */
  async function send(root, call) {
    clearErrors(root);
    try {
      await call();
      await ctx.reload();
    } catch (e) {
      if (!isConflict(e)) return showError(root, e);
      let who = 'someone else';
      try {
        const last = (await api.get('/audit', { flag: flag.key, limit: 1 })).items?.[0];
        if (last) who = last.actor;
      } catch {
        // The plain message will do.
      }
      const reload = h('button', { type: 'button', class: 'button', onclick: () => ctx.reload() }, 'Reload');
      banner(root, `This flag changed while you were editing: the current version was made by ${who}. `, [reload]).classList.add('conflict');
    }
  }
  return section;
}
