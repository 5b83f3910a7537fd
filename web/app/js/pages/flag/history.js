// The History tab: the versions of the flag's config in the environment, newest first and paged; who made
// each, when and with what edit; the diff against the version before; and Revert (editors; production asks),
// which writes the old config again as a new version.

import { api, seg } from '../../api.js';
import { h, replace, time } from '../../dom.js';
import { environments } from '../../environments.js';
import { banner, clearErrors, confirmDialog, isConflict, showError } from '../../forms.js';
import { debounce, onChange } from '../../live.js';
import { current, navigate } from '../../router.js';
import { session } from '../../session.js';
import { configDiff, summary } from './diff.js';
import { flagHeader, pageEnvironment } from './header.js';
import { openFlag } from './open.js';

const PAGE = 20;

/** @type {import('../../router.js').Page} */
export async function historyPage(view, params, query) {
  const env = pageEnvironment(query);
  const flag = await openFlag(view, params.flag);
  if (!flag) return;
  const base = `/flags/${seg(flag.key)}/environments/${seg(env)}`;
  const environment = environments.byKey(env);
  const list = h('ol', { class: 'versions', 'aria-label': 'Versions, newest first' });
  const more = h('div', { class: 'more' });
  const status = h('div', { class: 'history-status' });
  replace(view, flagHeader(flag, '/history', env), status, list, more);

  /** @type {any[]} every version loaded so far, newest first */
  let versions = [];
  /** @type {string | null | undefined} */
  let cursor;

  /** Loads the next page (or the first, when `fresh`). @param {boolean} fresh */
  const fetchPage = async (fresh) => {
    const page = await api.get(`${base}/history`, { limit: PAGE, cursor: fresh ? undefined : cursor });
    versions = fresh ? page.items : [...versions, ...page.items];
    cursor = page.next_cursor;
  };

  /** The config of the version before `v`, loading older pages when needed. @param {number} v */
  const previous = async (v) => {
    for (;;) {
      const found = versions.find((x) => x.version < v);
      if (found || !cursor) return found ?? null;
      await older();
    }
  };

  /** @param {any} entry */
  const revert = async (entry, /** @type {HTMLElement} */ where) => {
    clearErrors(where);
    const latest = versions[0];
    const question = `Revert ${flag.key} in ${environment?.name ?? env} to version ${entry.version}? This writes it again as a new version.`;
    if (environment?.production && !(await confirmDialog(`${question} This is a production environment.`))) return;
    try {
      await api.post(`${base}/revert`, { version: entry.version, base_version: latest.version }, latest.version);
      await load();
      replace(status, h('p', { class: 'alert alert-ok', role: 'status' }, `Reverted to version ${entry.version}: now version ${versions[0]?.version}.`));
    } catch (err) {
      if (isConflict(err)) {
        const now = await api.get(`${base}/history`, { limit: 1 }).catch(() => null);
        const last = now?.items?.[0];
        banner(where, `The config changed meanwhile${last ? `: version ${last.version} by ${last.actor}` : ''}. `,
          [h('button', { type: 'button', class: 'button', onclick: () => void load() }, 'Reload')]).classList.add('conflict');
      } else {
        showError(where, err);
      }
    }
  };

  /** @param {any} entry @param {number} i */
  const item = (entry, i) => {
    const latest = i === 0;
    const body = h('div', { class: 'diff-slot' });
    const details = h('details', { class: 'version-diff' }, h('summary', null, `Changes in version ${entry.version}`), body);
    details.addEventListener('toggle', async () => {
      if (!(/** @type {HTMLDetailsElement} */ (details).open) || body.childElementCount) return;
      replace(body, h('p', { class: 'loading' }, 'Loading…'));
      try {
        const before = entry.version > 1 ? await previous(entry.version) : null;
        replace(body, configDiff(before?.config ?? null, entry.config));
      } catch (err) {
        showError(body, err);
      }
    });
    const prev = versions[i + 1];
    const row = h('li', { class: 'card version', dataset: { version: String(entry.version) } },
      h('div', { class: 'version-head' },
        h('h2', null, `Version ${entry.version}`, latest ? h('span', { class: 'badge ok' }, 'current') : null,
          h('span', { class: `badge ${entry.config.enabled ? 'ok' : ''}` }, entry.config.enabled ? 'on' : 'off')),
        !latest && session.can('editor')
          ? h('button', { type: 'button', class: 'button small', 'aria-label': `Revert to version ${entry.version}`, onclick: () => revert(entry, row) }, 'Revert')
          : null),
      h('p', { class: 'version-who' }, h('code', null, entry.action), ' by ', h('span', { class: 'mono' }, entry.actor), ' · ',
        h('time', { datetime: entry.time }, time(entry.time))),
      prev || entry.version === 1 ? h('p', { class: 'hint' }, summary(prev?.config ?? null, entry.config)) : null,
      details);
    return row;
  };

  const drawMore = () => {
    replace(more, cursor
      ? h('button', { type: 'button', class: 'button', onclick: () => void older() }, 'Older versions')
      : versions.length ? h('p', { class: 'hint' }, 'That is every version.') : h('p', { class: 'empty' }, 'No versions.'));
  };
  const draw = () => {
    replace(list, versions.map(item));
    drawMore();
  };
  /** Loads the next page and adds its versions below, leaving the open diffs as they are. */
  const older = async () => {
    const shown = versions.length;
    await fetchPage(false);
    list.append(...versions.slice(shown).map((entry, j) => item(entry, shown + j)));
    drawMore();
  };

  const load = async () => {
    try {
      // Keep as many versions in view as were loaded before.
      const shown = versions.length;
      await fetchPage(true);
      while (versions.length < shown && cursor) await fetchPage(false);
      draw();
    } catch (err) {
      replace(list, h('li', { class: 'alert alert-danger', role: 'alert' }, `Could not load the history: ${err instanceof Error ? err.message : err}`));
    }
  };

  await load();
  const reload = debounce(() => void load());
  const stopChange = onChange((c) => {
    if (c.kind === 'flag' && c.key === flag.key && c.environment === env) reload();
  });
  const stopEnv = environments.onChange(() => {
    if (environments.current !== env) navigate(current().path);
  });
  return () => {
    stopChange();
    stopEnv();
  };
}
