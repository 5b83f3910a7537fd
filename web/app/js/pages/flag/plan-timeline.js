// Where a rollout plan's ramp stands: each step (done, current, upcoming) with its percent and hold, the share
// served now, when the next step is due (a countdown), what is left of a paused hold, why a halted plan
// stopped, and the plan's history.

import { h, time } from '../../dom.js';
import { who } from '../sentences.js';

/** @typedef {{percent: number, hold?: string | null}} Step */
/** @typedef {{at: string, event: string, step?: number | null, percent?: number | null, actor: string, detail?: any}} PlanEvent */

/** Words for the plan's states. */
const STATE_TEXT = {
  pending: 'Not started',
  running: 'Running',
  paused: 'Paused',
  halted: 'Halted by a guard',
  aborted: 'Aborted',
  completed: 'Completed',
};

/** A percent for people: `5%`, `0.5%`. @param {number | null | undefined} p */
export const pct = (p) => `${Number((p ?? 0).toFixed(3))}%`;

/**
 * Seconds as `1h 02m 03s`, `4m 05s` or `12s`.
 * @param {number} seconds
 */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const [hours, minutes, secs] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0');
  if (hours) return `${hours}h ${two(minutes)}m ${two(secs)}s`;
  if (minutes) return `${minutes}m ${two(secs)}s`;
  return `${secs}s`;
}

/**
 * Whether step `i` is done, current or upcoming in the plan's state.
 * @param {any} plan @param {number} i
 */
function stepStatus(plan, i) {
  if (plan.state === 'completed') return 'done';
  if (plan.state === 'pending') return 'upcoming';
  if (i < plan.current_step) return 'done';
  if (i === plan.current_step) return plan.state === 'running' || plan.state === 'paused' ? 'current' : 'stopped';
  return 'upcoming';
}

/** @param {any} plan */
function stepItems(plan) {
  return plan.steps.map((/** @type {Step} */ step, /** @type {number} */ i) => {
    const status = stepStatus(plan, i);
    const label = { done: 'done', current: 'current', stopped: 'stopped here', upcoming: 'upcoming' }[status];
    return h('li', { class: `step ${status}`, 'aria-current': status === 'current' ? 'step' : null, dataset: { step: String(i) } },
      h('span', { class: 'step-percent' }, pct(step.percent)),
      h('span', { class: 'step-hold' }, step.hold ? `hold ${step.hold}` : 'final'),
      h('span', { class: 'step-status' }, label));
  });
}

/** The latest `halted` event's reason, in words. @param {any} plan */
export function haltReason(plan) {
  const halted = [...(plan.history ?? [])].reverse().find((/** @type {PlanEvent} */ e) => e.event === 'halted');
  const d = halted?.detail;
  if (!d) return 'A guard of this flag was breached.';
  const p = d.evidence?.p_value;
  return `Guard #${d.guard} on ${d.metric ?? 'its metric'} was breached${p !== undefined && p !== null ? ` (p = ${Number(p).toPrecision(2)})` : ''} at ${time(halted.at)}.`;
}

/** What the plan is doing now, in a sentence, with the countdown element when a step is due. @param {any} plan */
function nowLine(plan) {
  const variant = h('strong', null, plan.variant);
  const serving = h('span', { class: 'plan-percent' }, pct(plan.current_percent));
  switch (plan.state) {
    case 'running':
      return h('p', { class: 'plan-now' }, serving, ' of contexts get ', variant, '. ',
        plan.next_step_at
          ? ['Next step (', pct(plan.steps[plan.current_step + 1]?.percent), ') in ',
            h('span', { class: 'countdown', dataset: { due: plan.next_step_at }, role: 'timer' }, countdownText(plan.next_step_at)), '.']
          : '');
    case 'paused':
      return h('p', { class: 'plan-now' }, serving, ' of contexts get ', variant, '. Paused',
        plan.remaining_hold ? [' with ', h('span', { class: 'remaining' }, plan.remaining_hold), ' of the hold left'] : '',
        '; resume to go on.');
    case 'halted':
      return h('p', { class: 'plan-now alert alert-danger', role: 'alert' },
        h('strong', null, 'Halted: '), haltReason(plan), ' Everybody gets ', h('strong', null, plan.control), '. ',
        h('a', { href: `#/flags/${encodeURIComponent(plan.flag)}/guards?env=${encodeURIComponent(plan.environment)}` }, 'See the guards'));
    case 'completed':
      return h('p', { class: 'plan-now' }, 'Done: ', serving, ' of contexts get ', variant, '.');
    case 'aborted':
      return h('p', { class: 'plan-now' }, 'Aborted: everybody gets ', h('strong', null, plan.control), '.');
    default:
      return h('p', { class: 'plan-now' }, 'Not started: nobody gets ', variant, ' from this plan yet.');
  }
}

/** @param {string} due */
function countdownText(due) {
  const left = (new Date(due).getTime() - Date.now()) / 1000;
  return left > 0 ? duration(left) : 'a moment';
}

/** Updates every countdown under `root`; called once a second. @param {HTMLElement} root */
export function tickCountdowns(root) {
  root.querySelectorAll('.countdown[data-due]').forEach((el) => {
    el.textContent = countdownText(/** @type {HTMLElement} */ (el).dataset.due ?? '');
  });
}

/** @param {PlanEvent} e @param {any} plan */
function eventText(e, plan) {
  const at = e.step !== undefined && e.step !== null && plan.steps[e.step] ? ` · step ${e.step + 1}/${plan.steps.length}` : '';
  return `${e.event}${at}${e.percent !== undefined && e.percent !== null ? ` · ${pct(e.percent)}` : ''}`;
}

/**
 * The timeline of a plan.
 * @param {any} plan the PlanBody
 */
export function planTimeline(plan) {
  const done = plan.state === 'completed' ? plan.steps.length : plan.state === 'pending' ? 0 : plan.current_step + 1;
  return h('section', { class: 'card plan-timeline', 'aria-labelledby': 'timeline-title', dataset: { state: plan.state } },
    h('h2', { id: 'timeline-title' }, 'Where the ramp stands',
      h('span', { class: `badge ${plan.state}` }, STATE_TEXT[/** @type {keyof STATE_TEXT} */ (plan.state)] ?? plan.state)),
    nowLine(plan),
    h('progress', { class: 'ramp-bar', max: '100', value: String(plan.current_percent), 'aria-label': `Share of contexts on ${plan.variant}` },
      pct(plan.current_percent)),
    h('ol', { class: 'steps', 'aria-label': `Steps (${done} of ${plan.steps.length} reached)` }, stepItems(plan)),
    h('p', { class: 'hint' }, `${plan.variant} against ${plan.control}, bucketed by ${plan.bucket_by}. Plan version ${plan.version}, last changed by ${who(plan.updated_by)} at ${time(plan.updated_at)}.`),
    h('details', { class: 'plan-history' },
      h('summary', null, `History (${plan.history.length})`),
      h('ol', { class: 'events', reversed: true }, [...plan.history].reverse().map((/** @type {PlanEvent} */ e) =>
        h('li', null, h('time', { datetime: e.at }, time(e.at)), ' ', h('strong', null, eventText(e, plan)), ' by ', h('span', { class: 'mono' }, e.actor),
          e.event === 'halted' && e.detail ? h('div', { class: 'hint' }, `guard #${e.detail.guard} (${e.detail.metric})`) : null)))));
}
