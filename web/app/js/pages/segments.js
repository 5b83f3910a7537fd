// The segments list: each segment's conditions and key lists at a glance, and delete (refused while a rule
// uses the segment: the refusal names the flags).

import { api, seg } from '../api.js';
import { h, loadError, replace, time } from '../dom.js';
import { banner, confirmDialog } from '../forms.js';
import { debounce, onChange } from '../live.js';
import { session } from '../session.js';

/** Every segment, following next_cursor. */
export async function loadSegments() {
  /** @type {any[]} */
  const all = [];
  let cursor;
  do {
    const page = await api.get('/segments', { limit: 500, cursor });
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/** A condition in one line, e.g. `country in DE, AT`. @param {any} c */
export function conditionText(c) {
  const values = (c.values ?? []).map((/** @type {any} */ v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  return `${c.negate ? 'not ' : ''}${c.attribute} ${c.operator}${values ? ` ${values}` : ''}`;
}

/** @type {import('../router.js').Page} */
export async function segmentsPage(view) {
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');
  replace(view,
    h('div', { class: 'page-head' },
      h('h1', null, 'Segments'),
      session.can('editor') ? h('a', { class: 'button primary', href: '#/segments/new' }, 'New segment') : null),
    h('p', { class: 'hint' }, 'A segment is a reusable group of contexts: listed keys, or every context its conditions match. Rules in any flag can require one.'),
    status, table);

  const load = async () => {
    try {
      draw(table, await loadSegments(), status, load);
    } catch (e) {
      replace(table, loadError(`Could not load segments: ${e instanceof Error ? e.message : e}`));
    }
  };
  await load();
  const reload = debounce(load);
  return onChange((c) => {
    if (c.kind === 'segment') reload();
  });
}

/**
 * @param {HTMLElement} table @param {any[]} segments @param {HTMLElement} status @param {() => Promise<void>} reload
 */
function draw(table, segments, status, reload) {
  if (!segments.length) {
    replace(table, h('p', { class: 'empty' }, 'No segments yet.'));
    return;
  }
  const editor = session.can('editor');
  replace(table, h('table', { class: 'segments' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Segment'),
      h('th', { scope: 'col' }, 'Conditions'),
      h('th', { scope: 'col' }, 'Included / excluded'),
      h('th', { scope: 'col' }, 'Updated'),
      editor ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null)),
    h('tbody', null, segments.map((s) => h('tr', { dataset: { segment: s.key } },
      h('th', { scope: 'row' },
        h('a', { href: `#/segments/${seg(s.key)}` }, s.name || s.key),
        s.name !== s.key ? h('div', { class: 'key' }, s.key) : null,
        s.description ? h('div', { class: 'hint' }, s.description) : null),
      h('td', null, s.conditions.length
        ? h('ul', { class: 'plain' }, s.conditions.map((/** @type {any} */ c) => h('li', { class: 'mono' }, conditionText(c))))
        : h('span', { class: 'hint' }, 'none')),
      h('td', null, `${s.included.length} / ${s.excluded.length}`),
      h('td', null, time(s.updated_at), h('div', { class: 'hint' }, `version ${s.version}`)),
      editor ? h('td', null, h('button', {
        type: 'button',
        class: 'button small danger',
        'aria-label': `Delete segment ${s.key}`,
        onclick: () => deleteSegment(s.key, status, reload),
      }, 'Delete')) : null)))));
}

/**
 * Deletes after a confirmation; a refusal (a rule uses it) is shown as the server words it.
 * @param {string} key @param {HTMLElement} status @param {() => Promise<void>} [after]
 */
export async function deleteSegment(key, status, after) {
  if (!(await confirmDialog(`Delete the segment ${key}? Flags can no longer use it.`))) return false;
  replace(status);
  try {
    await api.del(`/segments/${seg(key)}`);
    await after?.();
    return true;
  } catch (e) {
    banner(status, `Cannot delete ${key}: ${e instanceof Error ? e.message : e}`).classList.add('delete-refused');
    return false;
  }
}
