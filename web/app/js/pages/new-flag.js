// The new-flag form: key, name, kind, variants (a boolean flag gets on/off by itself), tags and description.

import { api } from '../api.js';
import { field, h, replace } from '../dom.js';
import { showError } from '../forms.js';
import { navigate } from '../router.js';
import { variantsEditor } from './variants-editor.js';

/** @type {import('../router.js').Page} */
export async function newFlagPage(view) {
  const key = h('input', { name: 'key', required: true, autocomplete: 'off' });
  const name = h('input', { name: 'name' });
  const kind = /** @type {HTMLSelectElement} */ (h('select', { name: 'kind' }, ['boolean', 'string', 'number', 'json'].map((k) => h('option', { value: k }, k))));
  const variants = variantsEditor('string', []);
  // The rows are in the form only for kinds that have them.
  const variantsSlot = h('div');
  const booleanHint = h('p', { class: 'hint' }, 'A boolean flag serves on (true) or off (false). Turned on, it serves on.');
  const sync = () => {
    booleanHint.hidden = kind.value !== 'boolean';
    if (kind.value === 'boolean') {
      replace(variantsSlot);
      return;
    }
    variants.setKind(kind.value);
    replace(variantsSlot, variants.el);
  };
  kind.addEventListener('change', sync);
  const tags = h('input', { name: 'tags', placeholder: 'checkout, team-payments' });
  const description = h('textarea', { name: 'description', rows: 2 });
  const submit = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'button primary' }, 'Create flag'));
  const form = h('form', { class: 'card form' },
    field('Key', key, { path: 'key', hint: 'Lower case letters, digits, dot, dash, underscore. Cannot change later.' }),
    field('Name', name, { path: 'name' }),
    field('Kind', kind, { path: 'kind' }),
    booleanHint,
    variantsSlot,
    field('Tags (comma-separated)', tags, { path: 'tags' }),
    field('Description', description, { path: 'description' }),
    h('div', { class: 'actions' }, h('a', { class: 'button subtle', href: '#/flags' }, 'Cancel'), submit));
  sync();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (/** @type {any} */ el) => el.value.trim();
    /** @type {any} */
    const body = { key: v(key), kind: v(kind), tags: v(tags) ? v(tags).split(',').map((/** @type {string} */ t) => t.trim()).filter(Boolean) : [] };
    if (v(name)) body.name = v(name);
    if (v(description)) body.description = v(description);
    submit.disabled = true;
    try {
      if (body.kind !== 'boolean') body.variants = variants.value();
      await api.post('/flags', body);
      navigate(`/flags/${encodeURIComponent(body.key)}`);
    } catch (err) {
      showError(form, err);
    } finally {
      submit.disabled = false;
    }
  });
  replace(view, h('h1', null, 'New flag'), form);
  key.focus();
}
