// The Rollout plan tab: the timeline of the ramp, the moves its state allows (start, pause, resume, abort,
// delete) for editors, and the form that defines or replaces the plan. Follows the scheduler live.

import { api, ApiError, seg } from '../../api.js';
import { h, loadError, replace } from '../../dom.js';
import { environments } from '../../environments.js';
import { confirmDialog, isConflict, showError } from '../../forms.js';
import { debounce, onAudit, onChange } from '../../live.js';
import { current, navigate } from '../../router.js';
import { session } from '../../session.js';
import { flagHeader, markPlanTab, pageEnvironment } from './header.js';
import { openFlag } from './open.js';
import { planConflict, planForm } from './plan-form.js';
import { pct, planTimeline, tickCountdowns } from './plan-timeline.js';

/** The moves a person can make in each state. */
const MOVES = {
  pending: ['start'],
  running: ['pause', 'abort'],
  paused: ['resume', 'abort'],
  halted: ['start'],
  aborted: ['start'],
  completed: ['start'],
};
const MOVE_TEXT = { start: 'Start', pause: 'Pause', resume: 'Resume', abort: 'Abort' };
/** States in which the plan can be replaced or deleted. */
const EDITABLE = new Set(['pending', 'halted', 'aborted', 'completed']);

/** @type {import('../../router.js').Page} */
export async function planPage(view, params, query) {
  const env = pageEnvironment(query);
  const flag = await openFlag(view, params.flag);
  if (!flag) return;
  const base = `/flags/${seg(flag.key)}/environments/${seg(env)}/rollout-plan`;
  const production = Boolean(environments.byKey(env)?.production);
  const configPath = `/flags/${seg(flag.key)}/environments/${seg(env)}`;
  const offSlot = h('div', { class: 'off-slot' });
  const timeline = h('div', { class: 'timeline-slot' });
  const moves = h('div', { class: 'plan-moves actions', role: 'group', 'aria-label': 'Plan actions' });
  const formSlot = h('div', { class: 'form-slot' });
  replace(view, flagHeader(flag, '/plan', env), offSlot, moves, timeline, formSlot);

  /** @type {any | null} */
  let plan = null;
  /** @type {any | null} the config in this environment (is the flag on? what does its default serve?) */
  let config = null;
  /** The plan version and editability the form was drawn for; it is redrawn only when they change. */
  let formFor = '';
  let formDirty = false;

  const drawForm = () => {
    const editable = !plan || EDITABLE.has(plan.state);
    const key = `${plan?.version ?? 'none'}:${editable}`;
    if (key === formFor || (formDirty && editable && formFor.endsWith(':true'))) return;
    formFor = key;
    formDirty = false;
    if (!session.can('editor') || !editable) {
      replace(formSlot, plan && !editable && session.can('editor')
        ? h('p', { class: 'hint' }, 'A plan in progress cannot be changed: pause it to hold, or abort it to change the steps.')
        : null);
      return;
    }
    const form = planForm(flag, env, plan, { saved: () => { formFor = ''; void load(); }, reload: () => { formFor = ''; void load(); } });
    form.addEventListener('input', () => { formDirty = true; });
    replace(formSlot, form);
  };

  const drawMoves = () => {
    if (!plan || !session.can('editor')) {
      replace(moves);
      return;
    }
    const allowed = MOVES[/** @type {keyof MOVES} */ (plan.state)] ?? [];
    replace(moves,
      allowed.map((/** @type {keyof MOVE_TEXT} */ move) => h('button', {
        type: 'button',
        class: `button ${move === 'abort' ? 'danger' : 'primary'}`,
        dataset: { move },
        onclick: () => act(move),
      }, plan.state !== 'pending' && move === 'start' ? 'Start again' : MOVE_TEXT[move])),
      EDITABLE.has(plan.state) ? h('button', { type: 'button', class: 'button subtle', onclick: remove }, 'Delete plan') : null);
  };

  /** @param {keyof MOVE_TEXT} move */
  const act = async (move) => {
    const envName = environments.byKey(env)?.name ?? env;
    // Only an enabled flag serves its default: when it is off, nobody loses anything by starting.
    const now = config?.enabled ? shareOf(config.default, plan.variant) : null;
    const first = plan.steps[0]?.percent ?? 0;
    // Starting sets the default to the first step: say so when that is less than the flag serves now.
    const lowers = move === 'start' && now !== null && now > first
      ? `Starting the plan lowers the share of contexts that get ${plan.variant} in ${envName} from ${pct(now)} to ${pct(first)} at once.` : '';
    const question = [lowers, production ? `${MOVE_TEXT[move]} the rollout of ${flag.key} in ${envName}, a production environment?` : lowers ? 'Start it?' : ''].filter(Boolean).join(' ');
    if (question && !(await confirmDialog(question))) return;
    try {
      plan = await api.post(`${base}/${move}`, {}, plan.version);
      draw();
    } catch (err) {
      if (isConflict(err)) await planConflict(moves, flag.key, env, () => void load());
      else showError(moves, err);
    }
  };

  const remove = async () => {
    const question = `Delete the rollout plan of ${flag.key}${production ? ' in a production environment' : ''}? The config keeps what it serves now.`;
    if (!(await confirmDialog(question))) return;
    try {
      await api.del(base, plan.version);
      formFor = '';
      await load();
    } catch (err) {
      if (isConflict(err)) await planConflict(moves, flag.key, env, () => void load());
      else showError(moves, err);
    }
  };

  const draw = () => {
    const badge = view.querySelector('[data-tab="/plan"] .tab-badge');
    if (badge) markPlanTab(badge, plan);
    replace(offSlot, config && !config.enabled
      ? h('p', { class: 'alert alert-info flag-off', role: 'status' },
        h('strong', null, 'The flag is off here: '),
        `everybody gets ${config.off_variant}, whatever step the plan is at. `,
        h('a', { href: `#/flags/${seg(flag.key)}?env=${seg(env)}` }, 'Turn it on on the Targeting tab'))
      : null);
    replace(timeline, plan ? planTimeline(plan) : h('section', { class: 'card' },
      h('h2', null, 'No rollout plan'),
      h('p', null, `A plan ramps one variant of ${flag.key} up step by step in this environment, holding each step for a while; a breached guard halts it.`)));
    drawMoves();
    drawForm();
  };

  const load = async () => {
    config = await api.get(configPath).catch(() => null);
    try {
      plan = await api.get(base);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        replace(timeline, loadError(`Could not load the plan: ${err instanceof Error ? err.message : err}`));
        return;
      }
      plan = null;
    }
    draw();
  };

  await load();
  const reload = debounce(() => void load());
  const stopChange = onChange((c) => {
    if ((c.kind === 'flag' && c.key === flag.key && c.environment === env) || c.kind === 'environment') reload();
  });
  const stopAudit = onAudit((a) => {
    if (a.resource === 'plan' && a.flag === flag.key && a.environment === env) reload();
  });
  // The countdown, and a safety net: when the next step is overdue, ask again (the stream may lag).
  const timer = setInterval(() => {
    tickCountdowns(timeline);
    if (plan?.state === 'running' && plan.next_step_at && Date.parse(plan.next_step_at) < Date.now() - 3000) reload();
  }, 1000);
  const stopEnv = environments.onChange(() => {
    if (environments.current !== env) navigate(current().path);
  });
  return () => {
    stopChange();
    stopAudit();
    stopEnv();
    clearInterval(timer);
  };
}

/**
 * The share (percent) of contexts a Serve gives `variant`, by default: 100 or 0 for one variant, its weight
 * for a split.
 * @param {any} serve @param {string} variant
 */
function shareOf(serve, variant) {
  if (serve?.variant !== undefined) return serve.variant === variant ? 100 : 0;
  const w = (serve?.split?.weights ?? []).find((/** @type {any} */ x) => x.variant === variant);
  return (w?.weight ?? 0) / 1000;
}
