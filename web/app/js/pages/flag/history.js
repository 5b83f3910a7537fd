// The History tab: the versions of the flag's config in the environment, newest first and paged; each said
// in a sentence (who did what, when); the diff against the version before; "Restore this version" on older
// ones and "Undo" on the newest (editors; production asks), which write an old config again as a new version.

import { api, isChangeRequest, seg } from '../../api.js';
import { h, loadError, replace, time } from '../../dom.js';
import { environments } from '../../environments.js';
import { banner, clearErrors, confirmDialog, isConflict, showError } from '../../forms.js';
import { debounce, onChange } from '../../live.js';
import { current, navigate } from '../../router.js';
import { session } from '../../session.js';
import { proposedNotice } from './approvals.js';
import { configDiff } from './diff.js';
import { auditSentence } from '../sentences.js';
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

  /**
   * Writes `entry`'s config again as a new version.
   * @param {any} entry the version to restore @param {HTMLElement} where @param {string} question
   */
  const restore = async (entry, where, question) => {
    clearErrors(where);
    const latest = versions[0];
    if (environment?.production && !(await confirmDialog(`${question} This is ${environment.name}, a production environment.`))) return;
    try {
      const answer = await api.post(`${base}/revert`, { version: entry.version, base_version: latest.version }, latest.version);
      await load();
      // Where approvals are required, the restore is proposed, not made.
      if (isChangeRequest(answer) && answer.state !== 'applied') replace(status, proposedNotice(answer));
      else replace(status, h('p', { class: 'alert alert-ok', role: 'status' }, `Restored version ${entry.version}: now version ${versions[0]?.version}.`));
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
    const where = environment?.name ?? env;
    const sentence = entry.version === 1 && !prev
      ? `${flag.key} was created here, off.`
      : `${auditSentence({ actor: entry.actor, action: entry.action, flag: flag.key, environment: env, before: prev?.config, after: entry.config })}.`;
    /** @type {HTMLElement | null} */
    let action = null;
    if (session.can('editor') && !latest) {
      action = h('button', {
        type: 'button', class: 'button small', 'aria-label': `Restore version ${entry.version}`,
        onclick: () => restore(entry, row, `Restore version ${entry.version} of ${flag.key} in ${where}? It is written again as a new version.`),
      }, 'Restore this version');
    } else if (session.can('editor') && prev) {
      action = h('button', {
        type: 'button', class: 'button small', 'aria-label': `Undo version ${entry.version}`,
        onclick: () => restore(prev, row, `Undo version ${entry.version} of ${flag.key} in ${where}? Version ${prev.version} is written again as a new version.`),
      }, 'Undo');
    }
    const row = h('li', { class: 'card version', dataset: { version: String(entry.version), action: entry.action } },
      h('div', { class: 'version-head' },
        h('h2', null, `Version ${entry.version}`, latest ? h('span', { class: 'badge ok' }, 'current') : null,
          h('span', { class: `badge ${entry.config.enabled ? 'ok' : ''}` }, entry.config.enabled ? 'on' : 'off')),
        action),
      h('p', { class: 'version-who' }, h('span', { class: 'sentence' }, sentence), ' ',
        h('time', { class: 'hint', datetime: entry.time, title: entry.action }, time(entry.time))),
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
      replace(list, loadError(`Could not load the history: ${err instanceof Error ? err.message : err}`, 'li'));
    }
  };

  await load();
  const reload = debounce(() => void load());
  const stopChange = onChange((c) => {
    if ((c.kind === 'flag' && c.key === flag.key && c.environment === env) || c.kind === 'environment') reload();
  });
  const stopEnv = environments.onChange(() => {
    if (environments.current !== env) navigate(current().path);
  });
  return () => {
    stopChange();
    stopEnv();
  };
}
