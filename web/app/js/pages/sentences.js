// Changes in words, for the audit log and a flag's history: "admin@example.com turned dark-mode off in
// Production", "admin@example.com changed the default of checkout in Staging: 10% on → 25% on".

import { environments } from '../environments.js';
import { breachText } from '../live.js';

/** Weights are in units of 1/100000. @param {number} weight */
const percent = (weight) => `${Number((weight / 1000).toFixed(3))}%`;

/** Who made a change, as people say it: the email, the token's name, or the part of Pennon. @param {string} actor */
export function who(actor) {
  if (!actor) return 'Someone';
  if (actor === 'system:plan') return 'The rollout plan';
  if (actor.startsWith('system:guard')) return 'A guard';
  if (actor.startsWith('system:')) return 'Pennon';
  if (actor.startsWith('token:')) return `API token ${actor.slice(6)}`;
  return actor.replace(/^user:/, '');
}

/** A Serve in words: `on`, `25% on · 75% off`. @param {any} serve */
export function serveWords(serve) {
  if (!serve) return '—';
  if (serve.variant !== undefined) return serve.variant;
  const weights = serve.split?.weights ?? [];
  return weights.filter((/** @type {any} */ w) => w.weight > 0).map((/** @type {any} */ w) => `${percent(w.weight)} ${w.variant}`).join(' · ');
}

/** What changed between two configs, in words (empty when nothing that is served changed). @param {any} before @param {any} after */
export function configChanges(before, after) {
  if (!before || !after) return [];
  const same = (/** @type {string} */ k) => JSON.stringify(before[k] ?? null) === JSON.stringify(after[k] ?? null);
  /** @type {string[]} */
  const parts = [];
  if (before.enabled !== after.enabled) parts.push(after.enabled ? 'turned on' : 'turned off');
  if (!same('default')) parts.push(`default ${serveWords(before.default)} → ${serveWords(after.default)}`);
  if (!same('off_variant')) parts.push(`when off ${before.off_variant} → ${after.off_variant}`);
  const ids = (/** @type {any} */ c) => (c.rules ?? []).map((/** @type {any} */ r) => r.id);
  const [was, now] = [ids(before), ids(after)];
  const added = now.filter((/** @type {string} */ id) => !was.includes(id));
  const removed = was.filter((/** @type {string} */ id) => !now.includes(id));
  if (added.length) parts.push(`rule ${added.join(', ')} added`);
  if (removed.length) parts.push(`rule ${removed.join(', ')} removed`);
  if (!added.length && !removed.length && !same('rules')) parts.push(was.join() === now.join() ? 'rules edited' : 'rules reordered');
  if (!same('targets')) {
    const count = (/** @type {any} */ c) => (c.targets ?? []).reduce((n, /** @type {any} */ t) => n + t.keys.length, 0);
    parts.push(`individual targets ${count(before)} → ${count(after)}`);
  }
  if (!same('prerequisites')) parts.push('prerequisites changed');
  return parts;
}

/** @param {string | undefined} key */
const envName = (key) => (key ? environments.byKey(key)?.name ?? key : '');

/** What a person did to a rollout plan. */
const PLAN_DONE = { create: 'defined', replace: 'replaced', delete: 'deleted', start: 'started', pause: 'paused', resume: 'resumed', abort: 'aborted' };
/** What a rollout plan did by itself (or a guard did to it). */
const PLAN_HAPPENED = { complete: 'reached its last step', halt: 'was halted by a guard', abort: 'was aborted' };

/**
 * An audit entry as one sentence.
 * @param {any} a the entry (actor, action, resource, resource_key, flag, environment, before, after, detail)
 */
export function auditSentence(a) {
  const actor = who(a.actor);
  const [noun, ...rest] = String(a.action).split('.');
  const verb = rest.join('.');
  const flag = a.flag ?? a.resource_key?.split('/')[0];
  const where = a.environment ? ` in ${envName(a.environment)}` : '';
  if (noun === 'config') {
    const changes = configChanges(a.before, a.after);
    const list = changes.length ? `: ${changes.join('; ')}` : '';
    if (verb === 'toggle') return `${actor} turned ${flag} ${a.after?.enabled ? 'on' : 'off'}${where}`;
    if (verb === 'revert') return `${actor} restored an earlier version of ${flag}${where}${list}`;
    if (verb === 'promote') return `${actor} copied ${flag}'s config from ${envName(a.detail?.from) || 'another environment'} to ${envName(a.environment)}${list}`;
    if (verb.startsWith('plan.')) return `The rollout plan changed ${flag}${where}${list}`;
    return `${actor} changed ${flag}${where}${list}`;
  }
  if (noun === 'plan') {
    if (verb === 'advance') {
      // The plan's record flattens its spec: `steps` and `current_step` sit side by side.
      const step = a.after?.steps?.[a.after.current_step]?.percent;
      return `The rollout plan of ${flag}${where} moved to the next step${typeof step === 'number' ? `: ${Number(step.toFixed(3))}%` : ''}`;
    }
    const done = PLAN_DONE[/** @type {keyof PLAN_DONE} */ (verb)];
    if (done && !a.actor?.startsWith('system:')) return `${actor} ${done} the rollout plan of ${flag}${where}`;
    return `The rollout plan of ${flag}${where} ${PLAN_HAPPENED[/** @type {keyof PLAN_HAPPENED} */ (verb)] ?? verb}`;
  }
  if (a.action === 'guard.breach') {
    const text = breachText(a.detail);
    return `A guard on ${flag}${where} was breached${text ? `: ${text}` : ''}`;
  }
  if (noun === 'guard') return `${actor} ${{ create: 'added', update: 'changed', delete: 'deleted', reset: 'reset' }[verb] ?? verb} a guard${a.after?.metric || a.before?.metric ? ` on ${a.after?.metric ?? a.before?.metric}` : ''} of ${flag}${where}`;
  if (noun === 'flag') {
    const verbs = { create: 'created', update: 'changed the definition of', archive: 'archived', unarchive: 'unarchived', delete: 'deleted' };
    return `${actor} ${verbs[/** @type {keyof verbs} */ (verb)] ?? verb} the flag ${a.resource_key}`;
  }
  const done = { create: 'created', update: 'changed', delete: 'deleted', revoke: 'revoked', rotate: 'rotated' }[verb] ?? verb;
  const thing = { key: 'the SDK key', sdk_key: 'the SDK key', token: 'the API token', user: 'the user', segment: 'the segment', environment: 'the environment' }[noun] ?? noun;
  return `${actor} ${done} ${thing} ${a.resource_key ?? ''}${a.environment && noun !== 'environment' ? ` in ${envName(a.environment)}` : ''}`.trim();
}
