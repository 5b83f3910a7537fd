// The flag page's Targeting tab (`#/flags/:flag`): on/off, variants and definition, prerequisites, individual
// targets, rules and the default, for the environment shown. Every section writes through `ctx.write`, which
// sends the config version the page was drawn from, puts API problems at their fields, and answers a stale
// version with who changed it. Changes made elsewhere redraw the page, unless a form is being edited: then
// the page says so and offers a reload instead of throwing the edit away. Where the environment requires
// approvals, a change is proposed as a change request instead, and the page says so (`approvals.js`).

import { api, ApiError, forNextChange, isChangeRequest } from '../../api.js';
import { h, loadError, replace } from '../../dom.js';
import { environments } from '../../environments.js';
import { clearErrors, confirmProduction, isConflict, showConflict, showError } from '../../forms.js';
import { approvalCard, approvalHeaders, openRequests, openRequestsBanner, proposedNotice } from './approvals.js';
import { contextTester } from './context-tester.js';
import { debounce, onAudit, onChange } from '../../live.js';
import { session } from '../../session.js';
import { defaultSection } from './default-serve.js';
import { definitionSection } from './definition.js';
import { flagHeader, loadDelivery, loadFlag, pageEnvironment } from './header.js';
import { pct } from './plan-timeline.js';
import { prerequisitesSection } from './prerequisites.js';
import { promoteSection } from './promote.js';
import { rulesSection } from './rules.js';
import { scheduledSection } from './scheduled.js';
import { statusSection } from './status.js';
import { targetsSection } from './targets.js';

/**
 * What every section of the page is drawn from and writes through.
 * @typedef {{
 *   flag: any, config: any, env: string, environment: any, segments: any[], flags: any[],
 *   delivery: {plan: any | null, guards: any[]}, requests: any[],
 *   canEdit: boolean, canEditDefinition: boolean, isAdmin: boolean, proposes: boolean, base: string, focusAfter: string[],
 *   reload: () => Promise<void>,
 *   write: (root: HTMLElement, call: (version: number) => Promise<any>, asked?: boolean) => Promise<boolean>,
 *   track: (form: HTMLElement) => void,
 *   discard: (form: HTMLElement) => void,
 * }} Ctx
 */

/** @type {import('../../router.js').Page} */
export async function targetingPage(view, params, query) {
  const key = params.flag;
  /** @type {Set<HTMLElement>} forms with edits not yet saved */
  const dirty = new Set();
  let writing = false;
  let stale = false;
  // Set when the person has left the page: a late answer or change must not draw over the next page.
  let gone = false;
  const staleSlot = h('div', { class: 'stale-slot', role: 'status' });
  // What the last change proposed (a change request), kept across the redraw that follows it.
  const proposedSlot = h('div', { class: 'proposed-slot' });
  /** @type {HTMLElement | null} made once, so that what was typed survives redraws */
  let tester = null;

  /** @type {Ctx} */
  const ctx = {
    flag: null,
    config: null,
    env: pageEnvironment(query),
    environment: undefined,
    segments: [],
    flags: [],
    delivery: { plan: null, guards: [] },
    requests: [],
    canEdit: false,
    canEditDefinition: false,
    isAdmin: false,
    proposes: false,
    base: '',
    focusAfter: [],
    reload,
    async write(root, call, asked = false) {
      clearErrors(root);
      // Every change in a production environment asks first (unless the caller asked its own question).
      if (!asked && !(await confirmProduction(ctx.environment, `Change ${ctx.flag.key}`))) return false;
      // Where approvals are required, the card's comment (or an admin's bypass reason) goes with the change.
      try {
        forNextChange(ctx.proposes ? approvalHeaders(view) : null);
      } catch (e) {
        const card = view.querySelector('.approval-card');
        showError(card instanceof HTMLElement ? card : root, e);
        return false;
      }
      replace(proposedSlot);
      writing = true;
      // Its buttons and fields wait for the answer, so that a second click sends nothing.
      const busy = [...root.querySelectorAll('button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled])')];
      busy.forEach((el) => el.setAttribute('disabled', ''));
      root.setAttribute('aria-busy', 'true');
      const done = () => {
        busy.forEach((el) => el.removeAttribute('disabled'));
        root.removeAttribute('aria-busy');
      };
      /** @type {any} */
      let answer;
      try {
        answer = await call(ctx.config.version);
      } catch (e) {
        forNextChange(null);
        writing = false;
        done();
        if (isConflict(e)) await showConflict(root, /** @type {any} */ (e), { flag: key, env: ctx.env, reload });
        else showError(root, e);
        return false;
      }
      writing = false;
      // A change request: the config is unchanged; the page says what waits, and where.
      const proposed = isChangeRequest(answer) && answer.state !== 'applied';
      await reload();
      if (proposed) replace(proposedSlot, proposedNotice(answer));
      done();
      return !proposed;
    },
    track(form) {
      const mark = () => dirty.add(form);
      form.addEventListener('input', mark);
      form.addEventListener('change', mark);
    },
    discard(form) {
      dirty.delete(form);
      if (stale) void reload();
      else draw();
    },
  };

  async function load() {
    const base = `/flags/${encodeURIComponent(key)}/environments/${encodeURIComponent(ctx.env)}`;
    const [flag, config, segments, flags, delivery, requests] = await Promise.all([
      loadFlag(key),
      // The config on its own also says who changed it last.
      ctx.env ? api.get(base).catch((e) => (e instanceof ApiError && e.status === 404 ? null : Promise.reject(e))) : null,
      api.get('/segments', { limit: 100 }).then((p) => p.items).catch(() => []),
      api.get('/flags', { limit: 100 }).then((p) => p.items).catch(() => []),
      ctx.env ? loadDelivery(key, ctx.env) : { plan: null, guards: [] },
      ctx.env ? openRequests(key, ctx.env) : [],
    ]);
    const environment = environments.byKey(ctx.env);
    const canEdit = session.can('editor') && !flag.archived;
    Object.assign(ctx, {
      flag,
      delivery,
      requests,
      segments,
      flags,
      config: config ?? flag.environments?.[ctx.env] ?? null,
      environment,
      canEdit,
      canEditDefinition: session.can('editor'),
      isAdmin: session.can('admin'),
      proposes: canEdit && (environment?.approvals_required ?? 0) > 0,
      base,
    });
  }

  async function reload() {
    try {
      await load();
      if (gone) return;
    } catch (e) {
      if (gone) return;
      replace(view, h('p', { class: 'crumbs' }, h('a', { href: '#/flags' }, 'Flags')),
        h('h1', null, key),
        loadError(`Could not load the flag: ${e instanceof Error ? e.message : e}`));
      return;
    }
    stale = false;
    dirty.clear();
    draw();
  }

  function draw() {
    replace(staleSlot);
    const { flag, config } = ctx;
    if (!config) {
      replace(view, flagHeader(flag, '', ctx.env), definitionSection(ctx),
        h('p', { class: 'empty' }, ctx.env ? `The flag has no config in ${ctx.env}.` : 'There is no environment yet.'));
      return;
    }
    replace(view,
      flagHeader(flag, '', ctx.env, ctx.delivery, ctx.requests),
      staleSlot,
      proposedSlot,
      openRequestsBanner(ctx),
      flag.archived ? h('p', { class: 'alert alert-info' }, 'This flag is archived: unarchive it to change its targeting.') : null,
      deliveryBanners(ctx),
      // The tester sits beside the config on a wide screen (sticky, so the highlight and its answer are in
      // view together) and after the switch on a narrow one.
      h('div', { class: 'targeting-layout' },
        h('div', { class: 'targeting' },
          approvalCard(ctx),
          statusSection(ctx),
          scheduledSection(ctx),
          prerequisitesSection(ctx),
          targetsSection(ctx),
          rulesSection(ctx),
          defaultSection(ctx),
          definitionSection(ctx),
          promoteSection(ctx)),
        (tester ??= contextTester(ctx, view))));
    // After a redraw, focus goes back to where the person was (the first of the candidates still usable).
    for (const selector of ctx.focusAfter) {
      const el = view.querySelector(selector);
      if (el instanceof HTMLElement && !el.hasAttribute('disabled')) {
        el.focus();
        break;
      }
    }
    ctx.focusAfter = [];
  }

  function showStale() {
    stale = true;
    if (staleSlot.firstChild) return;
    replace(staleSlot, h('div', { class: 'alert alert-info stale' },
      'This flag changed while you were editing. ',
      h('button', { type: 'button', class: 'button', onclick: () => reload() }, 'Reload')));
  }

  // Changes made elsewhere: redraw, or say so when an edit is under way. Our own writes reload by themselves.
  const check = debounce(async () => {
    if (writing || gone) return;
    let fresh;
    try {
      fresh = await loadFlag(key);
    } catch {
      return;
    }
    const config = fresh.environments?.[ctx.env];
    const same = fresh.version === ctx.flag?.version && fresh.archived === ctx.flag?.archived && config?.version === ctx.config?.version;
    if (same || writing || gone) return;
    if (dirty.size) showStale();
    else await reload();
  });
  const stopLive = onChange((c) => {
    if (c.kind === 'flag' && c.key === key) check();
    if ((c.kind === 'segment' || c.kind === 'environment') && !dirty.size) void reload();
  });
  // A change request made, decided or rebased elsewhere: the banner of open ones follows (approving one that
  // applies also changes the config, which the change event above brings).
  const requestsChanged = debounce(() => {
    if (!writing && !gone && !dirty.size) void reload();
  });
  const stopAudit = onAudit((a) => {
    if (a.resource === 'change_request') requestsChanged();
  });
  const stopEnv = environments.onChange(() => {
    if (environments.current === ctx.env) return;
    ctx.env = environments.current;
    replace(proposedSlot);
    void reload();
  });

  await reload();
  return () => {
    gone = true;
    stopLive();
    stopAudit();
    stopEnv();
  };
}

/**
 * What a running plan or a breached guard is doing to this page's config, said at the top of it.
 * @param {Ctx} ctx
 */
function deliveryBanners(ctx) {
  const { plan, guards } = ctx.delivery;
  const at = (/** @type {string} */ tab) => `#/flags/${encodeURIComponent(ctx.flag.key)}/${tab}?env=${encodeURIComponent(ctx.env)}`;
  const stopped = guards.filter((g) => g.state === 'breached' && g.action === 'disable_flag');
  return [
    plan && (plan.state === 'running' || plan.state === 'paused')
      ? h('div', { class: 'alert alert-info plan-banner', role: 'status' },
        h('strong', null, `A rollout plan is ${plan.state} here: `),
        `${pct(plan.current_percent)} of contexts get ${plan.variant}. The plan sets the default at each step, so a default saved here is replaced at the next one. `,
        h('a', { href: at('plan') }, 'See the plan'))
      : null,
    stopped.length && !ctx.config?.enabled
      ? h('div', { class: 'alert alert-danger guard-banner', role: 'alert' },
        h('strong', null, 'A guard turned this flag off: '),
        `${stopped.map((g) => g.metric).join(', ')} breached its threshold. It stays off until someone turns it back on. `,
        h('a', { href: at('guards') }, 'See the evidence'))
      : null,
  ];
}
