// The numbers behind a guard's verdict: both arms' samples and values, the threshold and the limit it gave,
// the test statistic, p-value and alpha — and for a breach, when it happened and what was done (from the
// `guard.breach` audit row).

import { h, time } from '../../dom.js';
import { fmt } from './guard-chart.js';

const ACTION_TEXT = { disable_flag: 'the flag was turned off', halt_rollout: 'the rollout plan was halted' };

/** @param {number | null | undefined} p */
const pValue = (p) => (p === null || p === undefined ? '—' : p < 0.0001 ? p.toExponential(1) : String(Number(p.toPrecision(2))));

/** @param {any} guard */
export function thresholdText(guard) {
  const worse = guard.direction === 'lower_is_worse' ? 'lower' : 'higher';
  if (guard.threshold.relative !== undefined) return `at most ${Number((guard.threshold.relative * 100).toPrecision(3))}% ${worse} than ${guard.control ?? 'the control'}`;
  return `${guard.variant} not ${worse} than ${fmt(guard, guard.threshold.absolute)}`;
}

/**
 * @param {any} guard GuardBody (its `evidence` is the last check's)
 * @param {any | null} breach the latest `guard.breach` audit row of this guard, if any
 */
export function guardEvidence(guard, breach) {
  const e = breach?.detail?.evidence ?? guard.evidence;
  if (!e) return h('p', { class: 'hint' }, 'Not checked yet.');
  const d = breach?.detail;
  const stat = e.statistic ? `${e.statistic.kind} = ${Number(e.statistic.value.toPrecision(3))}${e.statistic.df ? ` (df ${Math.round(e.statistic.df)})` : ''}` : '—';
  const arms = h('table', { class: 'evidence-arms' },
    h('thead', null, h('tr', null, ['Arm', 'Variant', 'Samples', guard.statistic === 'rate' ? 'Rate' : 'Mean'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null,
      h('tr', { dataset: { arm: 'treatment' } }, h('th', { scope: 'row' }, 'Treatment'), h('td', null, guard.variant), h('td', null, String(e.treatment.n)), h('td', null, fmt(guard, e.treatment.value))),
      guard.control ? h('tr', { dataset: { arm: 'control' } }, h('th', { scope: 'row' }, 'Control'), h('td', null, guard.control), h('td', null, String(e.control.n)), h('td', null, fmt(guard, e.control.value))) : null));
  /** @type {[string, string][]} */
  const facts = [
    ['Statistic', `${guard.statistic} of ${guard.metric}, ${guard.direction.replaceAll('_', ' ')}`],
    ['Threshold', thresholdText(guard)],
    ['Limit', fmt(guard, e.limit)],
    ['Change against control', e.relative_change === null || e.relative_change === undefined ? '—' : `${e.relative_change > 0 ? '+' : ''}${Number((e.relative_change * 100).toPrecision(3))}%`],
    ['Test', stat],
    ['p-value', pValue(e.p_value)],
    ['Alpha', String(e.alpha)],
    ['Minimum samples', String(e.min_samples)],
  ];
  const list = h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  if (guard.state !== 'breached' && !breach) {
    return h('details', { class: 'evidence last-check' },
      h('summary', null, `Last check${guard.checked_at ? ` at ${time(guard.checked_at)}` : ''}`), arms, list);
  }
  const action = ACTION_TEXT[/** @type {keyof ACTION_TEXT} */ (d?.action ?? guard.action)] ?? String(d?.action ?? guard.action);
  return h('section', { class: 'evidence breach', id: `evidence-${guard.id}`, tabindex: '-1', 'aria-labelledby': `evidence-title-${guard.id}` },
    h('h4', { id: `evidence-title-${guard.id}` }, 'Evidence of the breach'),
    h('p', { class: 'breach-what' },
      breach ? [h('time', { datetime: breach.at }, time(breach.at)), ': '] : '',
      `${guard.variant} was significantly past the limit, so ${action}`,
      breach?.version ? ` (config version ${breach.version}, by ${breach.actor})` : '', '. ',
      guard.action === 'disable_flag' ? 'It stays off until a person turns it back on.' : 'The plan stays halted until a person starts it again.'),
    arms, list);
}
