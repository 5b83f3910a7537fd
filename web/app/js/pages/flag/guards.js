// The Guards tab: each guard with its state, its chart of treatment against control, and the evidence of a
// breach; editors create, edit and delete guards. Kept current from the live stream and a short poll (a guard's
// routine checks change its state without an audit row).

import { api, ApiError, seg } from '../../api.js';
import { h, loadError, replace, time } from '../../dom.js';
import { environments } from '../../environments.js';
import { confirmDialog, showError } from '../../forms.js';
import { debounce, onAudit, onChange } from '../../live.js';
import { current, navigate } from '../../router.js';
import { session } from '../../session.js';
import { guardChart } from './guard-chart.js';
import { guardEvidence, thresholdText } from './guard-evidence.js';
import { guardForm } from './guard-form.js';
import { flagHeader, markGuardsTab, pageEnvironment } from './header.js';
import { openFlag } from './open.js';

/** How often the page asks for fresh states and series, in ms. */
const POLL = 5000;
const STATE_TEXT = { healthy: 'healthy', insufficient_data: 'insufficient data', breached: 'breached' };

/**
 * How far back a guard's chart looks: from its data start (a few minutes at least), at most its window, so
 * that a young guard's points are not squeezed into one corner.
 * @param {any} guard
 */
function chartRange(guard) {
  const minutes = Math.ceil((Date.now() - Date.parse(guard.since)) / 60_000);
  const windowMinutes = Math.max(1, Math.floor(windowSeconds(guard.window) / 60));
  return `${Math.min(windowMinutes, Math.max(3, minutes + 1))}m`;
}

/** `1h`, `30m`, `1d`, `1h30m` in seconds (the window as the API writes it). @param {string} text */
function windowSeconds(text) {
  const units = { s: 1, m: 60, h: 3600, d: 86400 };
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)\s*([smhd])/g)) total += Number(n) * units[/** @type {keyof units} */ (unit)];
  return total || 3600;
}

/** @type {import('../../router.js').Page} */
export async function guardsPage(view, params, query) {
  const env = pageEnvironment(query);
  const flag = await openFlag(view, params.flag);
  if (!flag) return;
  const base = `/flags/${seg(flag.key)}/environments/${seg(env)}/guards`;
  const list = h('div', { class: 'guards', 'aria-live': 'polite', 'aria-busy': 'true' });
  const formSlot = h('div', { class: 'form-slot' });
  const add = session.can('editor') ? h('button', { type: 'button', class: 'button primary' }, 'New guard') : null;
  replace(view, flagHeader(flag, '/guards', env),
    h('div', { class: 'page-head' },
      h('p', { class: 'hint' }, `A guard watches a tracked metric of ${flag.key} here and, when the treatment is significantly worse, turns the flag off or halts its rollout.`),
      add),
    formSlot, list);

  /** @param {any | null} guard */
  const openForm = (guard) => {
    const close = () => replace(formSlot);
    const form = guardForm(flag, env, guard, { saved: () => { close(); void load(); }, cancel: close });
    replace(formSlot, form);
    /** @type {HTMLElement | null} */ (form.querySelector('input, select'))?.focus();
  };
  add?.addEventListener('click', () => openForm(null));

  /** @param {any} guard */
  const remove = async (guard) => {
    const production = environments.byKey(env)?.production;
    if (!(await confirmDialog(`Delete the guard on ${guard.metric} of ${flag.key}${production ? ' in a production environment' : ''}?`))) return;
    try {
      await api.del(`${base}/${guard.id}`);
      await load();
    } catch (err) {
      showError(list, err);
    }
  };

  /** @param {any} guard @param {any} series @param {any} breach */
  const card = (guard, series, breach) => h('article', { class: 'card guard', dataset: { guard: String(guard.id), state: guard.state }, 'aria-labelledby': `guard-title-${guard.id}` },
    h('div', { class: 'guard-head' },
      h('h2', { id: `guard-title-${guard.id}` }, guard.metric, h('span', { class: 'key' }, ` #${guard.id}`),
        h('span', { class: `badge ${guard.state}` }, STATE_TEXT[/** @type {keyof STATE_TEXT} */ (guard.state)] ?? guard.state)),
      session.can('editor') ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button small', 'aria-label': `Edit guard ${guard.metric} #${guard.id}`, onclick: () => openForm(guard) }, 'Edit'),
        h('button', { type: 'button', class: 'button small subtle', 'aria-label': `Delete guard ${guard.metric} #${guard.id}`, onclick: () => remove(guard) }, 'Delete')) : null),
    h('p', { class: 'guard-spec' },
      `${guard.statistic} · ${thresholdText(guard)} · window ${guard.window} · at least ${guard.min_samples} samples · alpha ${guard.alpha} · on breach: ${guard.action === 'halt_rollout' ? 'halt the rollout' : 'turn the flag off'}`),
    h('p', { class: 'hint' }, `Data since ${time(guard.since)}${guard.checked_at ? ` · checked ${time(guard.checked_at)}` : ''}`,
      guard.source?.kind === 'prometheus' ? ` · from Prometheus${guard.source.url ? ` (${guard.source.url})` : ''}` : ''),
    guard.source_error ? h('p', { class: 'alert alert-danger source-error', role: 'status' },
      `The last check could not read its source, and decided nothing: ${guard.source_error}`) : null,
    series ? guardChart(guard, series) : h('p', { class: 'hint' }, 'The chart could not be loaded.'),
    h('p', { class: 'hint' }, h('a', { class: 'results-link', href: `#/flags/${seg(flag.key)}/results?env=${encodeURIComponent(env)}&metric=${encodeURIComponent(guard.metric)}` },
      guard.state === 'breached' ? `The breach on the Results tab: ${guard.metric}'s interval over time` : `${guard.metric} on the Results tab, over time`)),
    guardEvidence(guard, guard.state === 'breached' ? breach : null));

  let first = true;
  const load = async () => {
    try {
      const { items } = await api.get(base);
      markGuardsTab(view, items);
      const breached = items.some((/** @type {any} */ g) => g.state === 'breached');
      const [series, audit] = await Promise.all([
        Promise.all(items.map((/** @type {any} */ g) => api.get(`${base}/${g.id}/series`, { range: chartRange(g) }).catch(() => null))),
        breached ? api.get('/audit', { flag: flag.key, environment: env, limit: 200 }).catch(() => ({ items: [] })) : { items: [] },
      ]);
      const breachOf = (/** @type {any} */ g) => audit.items.find((/** @type {any} */ a) => a.action === 'guard.breach' && a.detail?.guard === g.id) ?? null;
      // Keep what the reader opened across the redraw.
      const open = [...list.querySelectorAll('details[open]')].map((d) => d.closest('[data-guard]')?.getAttribute('data-guard'));
      replace(list, items.length
        ? items.map((/** @type {any} */ g, /** @type {number} */ i) => card(g, series[i], breachOf(g)))
        : h('p', { class: 'empty card' }, `No guards on ${flag.key} in this environment.`));
      open.forEach((id) => list.querySelector(`[data-guard="${id}"] details`)?.setAttribute('open', ''));
      list.setAttribute('aria-busy', 'false');
    } catch (err) {
      replace(list, loadError(`Could not load the guards: ${err instanceof ApiError || err instanceof Error ? err.message : err}`));
    }
    if (first) {
      first = false;
      // From a breach alert: show that guard's evidence.
      const wanted = query.get('guard');
      const target = list.querySelector(wanted ? `#evidence-${CSS.escape(wanted)}` : '.evidence.breach') ?? (wanted ? list.querySelector(`[data-guard="${CSS.escape(wanted)}"]`) : null);
      if (target instanceof HTMLElement) {
        target.scrollIntoView({ block: 'center' });
        if (target.tabIndex >= 0 || target.hasAttribute('tabindex')) target.focus({ preventScroll: true });
      }
    }
  };

  await load();
  const reload = debounce(() => void load(), 200);
  const stopAudit = onAudit((a) => {
    if (a.flag === flag.key && a.environment === env) reload();
  });
  const stopChange = onChange((c) => {
    if ((c.kind === 'flag' && c.key === flag.key && c.environment === env) || c.kind === 'environment') reload();
  });
  const stopEnv = environments.onChange(() => {
    if (environments.current !== env) navigate(current().path);
  });
  const timer = setInterval(() => {
    if (!document.hidden) reload();
  }, POLL);
  return () => {
    stopAudit();
    stopChange();
    stopEnv();
    clearInterval(timer);
  };
}
