// The new-flag form: key, name, kind, variants (a boolean flag gets on/off by itself), tags and description.

import { api, ApiError } from '../api.js';
import { field, h, replace } from '../dom.js';
import { showError } from '../forms.js';
import { navigate } from '../router.js';

/** @type {import('../router.js').Page} */
export async function newFlagPage(view) {
  const key = h('input', { name: 'key', required: true, autocomplete: 'off' });
  const name = h('input', { name: 'name' });
  const kind = h('select', { name: 'kind' }, ['boolean', 'string', 'number', 'json'].map((k) => h('option', { value: k }, k)));
  const variants = h('textarea', { name: 'variants', rows: 4, placeholder: '{"key": "blue", "value": "blue"}, one per line' });
  const variantsField = field('Variants (one JSON object per line)', variants, { path: 'variants', hint: 'A boolean flag gets on/off by itself.' });
  variantsField.hidden = true;
  kind.addEventListener('change', () => {
    variantsField.hidden = /** @type {HTMLSelectElement} */ (kind).value === 'boolean';
  });
  const tags = h('input', { name: 'tags', placeholder: 'checkout, team-payments' });
  const description = h('textarea', { name: 'description', rows: 2 });
  const form = h('form', { class: 'card form' },
    field('Key', key, { path: 'key', hint: 'Lower case letters, digits, dot, dash, underscore. Cannot change later.' }),
    field('Name', name, { path: 'name' }),
    field('Kind', kind, { path: 'kind' }),
    variantsField,
    field('Tags (comma-separated)', tags, { path: 'tags' }),
    field('Description', description, { path: 'description' }),
    h('div', { class: 'actions' }, h('a', { class: 'button subtle', href: '#/flags' }, 'Cancel'), h('button', { type: 'submit', class: 'button primary' }, 'Create flag')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (/** @type {any} */ el) => el.value.trim();
    /** @type {any} */
    const body = { key: v(key), kind: v(kind), tags: v(tags) ? v(tags).split(',').map((/** @type {string} */ t) => t.trim()).filter(Boolean) : [] };
    if (v(name)) body.name = v(name);
    if (v(description)) body.description = v(description);
    try {
      if (body.kind !== 'boolean') {
        body.variants = v(variants).split('\n').filter(Boolean).map((/** @type {string} */ line, /** @type {number} */ i) => {
          try {
            return JSON.parse(line);
          } catch {
            throw new ApiError(422, { errors: [{ path: `variants[${i}]`, message: 'not a JSON object' }] });
          }
        });
      }
      await api.post('/flags', body);
      navigate(`/flags/${encodeURIComponent(body.key)}`);
    } catch (err) {
      showError(form, err);
    }
  });
  replace(view, h('h1', null, 'New flag'), form);
  key.focus();
}
