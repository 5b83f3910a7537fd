// One segment: create it, or edit its name, description, conditions and key lists (with its version, so a change
// made meanwhile is refused and shown), or delete it.

import { api, ApiError, seg } from '../api.js';
import { field, h, replace } from '../dom.js';
import { isConflict, showError } from '../forms.js';
import { debounce, onChange } from '../live.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { conditionsEditor } from './conditions-editor.js';
import { deleteSegment } from './segments.js';
import { showStale } from './stale-version.js';

/** Context keys from a textarea: one per line (commas also split). @param {HTMLElement} el */
const keysOf = (el) => /** @type {HTMLTextAreaElement} */ (el).value.split(/[\n,]/).map((k) => k.trim()).filter(Boolean);

/** @type {import('../router.js').Page} */
export async function segmentPage(view, params) {
  const creating = params.segment === undefined;
  /** @type {any} */
  let segment = { key: '', name: '', description: '', conditions: [], included: [], excluded: [] };
  if (!creating) {
    try {
      segment = await api.get(`/segments/${seg(params.segment)}`);
    } catch (e) {
      replace(view, h('h1', null, 'Segment'), h('p', { class: 'alert alert-danger', role: 'alert' },
        e instanceof ApiError && e.status === 404 ? `There is no segment ${params.segment}.` : String(e)));
      return;
    }
  }
  let dirty = false;
  const draw = () => {
    dirty = false;
    drawForm(view, segment, creating, () => { dirty = true; });
  };
  draw();
  if (creating) return;
  const reload = debounce(async () => {
    /** @type {any} */
    let fresh;
    try {
      fresh = await api.get(`/segments/${seg(params.segment)}`);
    } catch {
      return;
    }
    if (fresh.version === segment.version) return;
    segment = fresh;
    if (!dirty) draw();
    else if (!view.querySelector('.changed-elsewhere')) {
      view.querySelector('form')?.prepend(h('div', { class: 'alert alert-info changed-elsewhere', role: 'status' },
        'This segment was changed elsewhere. ',
        h('button', { type: 'button', class: 'button small', onclick: draw }, 'Load the new version')));
    }
  });
  return onChange((c) => {
    if (c.kind === 'segment' && c.key === params.segment) reload();
  });
}

/**
 * @param {HTMLElement} view @param {any} segment @param {boolean} creating @param {() => void} touched
 */
function drawForm(view, segment, creating, touched) {
  const canEdit = session.can('editor');
  const readOnly = !canEdit;
  const key = h('input', { name: 'key', value: segment.key, required: true, autocomplete: 'off', readonly: !creating, disabled: readOnly });
  const name = h('input', { name: 'name', value: creating ? '' : segment.name, disabled: readOnly });
  const description = h('textarea', { name: 'description', rows: 2, value: segment.description, disabled: readOnly });
  const conditions = conditionsEditor(segment.conditions, { readOnly });
  const included = h('textarea', { name: 'included', rows: 3, value: segment.included.join('\n'), disabled: readOnly });
  const excluded = h('textarea', { name: 'excluded', rows: 3, value: segment.excluded.join('\n'), disabled: readOnly });
  const status = h('div');
  const form = h('form', { class: 'card form segment-form', 'aria-label': creating ? 'New segment' : `Segment ${segment.key}` },
    field('Key', key, { path: 'key', hint: creating ? 'Lower case letters, digits, dot, dash, underscore. Cannot change later.' : undefined }),
    field('Name', name, { path: 'name', hint: 'The key when left empty.' }),
    field('Description', description, { path: 'description' }),
    conditions.el,
    h('div', { class: 'two-columns' },
      field('Included context keys (one per line)', included, { path: 'included', hint: 'Always in the segment.' }),
      field('Excluded context keys (one per line)', excluded, { path: 'excluded', hint: 'Never in the segment, unless also included.' })),
    canEdit ? h('div', { class: 'actions' },
      creating ? null : h('button', {
        type: 'button',
        class: 'button danger',
        onclick: async () => {
          if (await deleteSegment(segment.key, status)) navigate('/segments');
        },
      }, 'Delete segment'),
      h('a', { class: 'button subtle', href: '#/segments' }, creating ? 'Cancel' : 'Back'),
      h('button', { type: 'submit', class: 'button primary' }, creating ? 'Create segment' : 'Save')) : null);
  form.addEventListener('input', touched);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (/** @type {any} */ el) => el.value.trim();
    /** @type {any} */
    const body = {
      description: v(description),
      conditions: conditions.value(),
      included: keysOf(included),
      excluded: keysOf(excluded),
    };
    if (v(name)) body.name = v(name);
    try {
      if (creating) {
        await api.post('/segments', { key: v(key), ...body });
        navigate(`/segments/${encodeURIComponent(v(key))}`);
      } else {
        const saved = await api.put(`/segments/${seg(segment.key)}`, body, segment.version);
        Object.assign(segment, saved);
        drawForm(view, segment, false, touched);
        view.querySelector('form')?.prepend(h('div', { class: 'alert alert-ok form-error', role: 'status', dataset: { owned: '1' } }, `Saved (version ${saved.version}).`));
      }
    } catch (err) {
      if (isConflict(err)) {
        await showStale(form, /** @type {ApiError} */ (err), {
          resource: 'segment',
          key: segment.key,
          reload: async () => {
            Object.assign(segment, await api.get(`/segments/${seg(segment.key)}`));
            drawForm(view, segment, false, touched);
          },
        });
      } else {
        showError(form, err);
      }
    }
  });
  replace(view,
    h('p', { class: 'crumbs' }, h('a', { href: '#/segments' }, 'Segments'), ' / '),
    h('h1', null, creating ? 'New segment' : segment.name || segment.key,
      creating ? null : h('span', { class: 'badge' }, `version ${segment.version}`)),
    readOnly ? h('p', { class: 'hint' }, 'Read only: editing segments needs the editor role.') : null,
    status, form);
  if (creating) key.focus();
}
