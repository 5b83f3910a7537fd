// How a flag's config reads at a glance: what the default serves (a variant, or a split such as `on 25%`), and
// where its rollout plan and guards stand.

import { h } from '../dom.js';

/** Weights are in units of 1/100000. @param {number} weight */
export const percent = (weight) => `${Number((weight / 1000).toFixed(3))}%`;

/**
 * What a Serve gives, in words: `on`, `25% on`, `red 50% · green 50%`.
 * @param {any} flag the definition (for the kind) @param {any} serve
 */
export function serveWords(flag, serve) {
  if (serve?.variant !== undefined) return serve.variant;
  const weights = serve?.split?.weights ?? [];
  if (flag.kind === 'boolean') {
    const on = weights.find((/** @type {any} */ w) => w.variant === 'on');
    return `${percent(on?.weight ?? 0)} on`;
  }
  return weights.filter((/** @type {any} */ w) => w.weight > 0).map((/** @type {any} */ w) => `${w.variant} ${percent(w.weight)}`).join(' · ');
}

/**
 * What a flag serves in one environment, in a sentence: `On — serves on`, `Off — would serve 25% on`, or for
 * a flag whose off variant is not plainly "off", `Off — serves blue; would serve red`. Rules and targets are
 * mentioned because they serve before the default.
 * @param {any} flag the definition (for the kind)
 * @param {any} config the config in one environment
 */
export function serveSummary(flag, config) {
  const what = serveWords(flag, config.default);
  // A whole config lists its rules and targets; the flags list's cells count them.
  const rules = Array.isArray(config.rules) ? config.rules.length : (config.rules ?? 0);
  const targeted = Array.isArray(config.targets)
    ? config.targets.reduce((n, /** @type {any} */ t) => n + t.keys.length, 0) : (config.targets ?? 0);
  const extra = [rules ? `${rules} rule${rules === 1 ? '' : 's'}` : '', targeted ? `${targeted} target${targeted === 1 ? '' : 's'}` : ''].filter(Boolean);
  const after = extra.length ? ` (after ${extra.join(', ')})` : '';
  if (config.enabled) return `On — serves ${what}${after}`;
  // Off, it serves the off variant; say what turning it on would change, unless that is the same.
  if (!after && config.default?.variant === config.off_variant) return `Off — serves ${config.off_variant}`;
  const off = flag.kind === 'boolean' && config.off_variant === 'off' ? '' : `serves ${config.off_variant}; `;
  return `Off — ${off}would serve ${what}${after}`;
}

/** @typedef {{flag: string, enabled: boolean, version: number, plan?: {state: string, current_step: number, step_count: number, current_percent: number, variant: string, next_step_at?: string | null} | null, guards: {healthy: number, insufficient_data: number, breached: number}}} FlagState */

/**
 * The rollout plan's step and the guards' state of a flag in an environment, when it has them, from the
 * environment's `flag-states` answer: links to the flag's Rollout plan and Guards tabs.
 * @param {string} flag @param {string} env @param {FlagState | undefined} state
 * @returns {HTMLElement | null}
 */
export function stateCells(flag, env, state) {
  if (!state || (!state.plan && !state.guards.healthy && !state.guards.insufficient_data && !state.guards.breached)) return null;
  const at = (/** @type {string} */ tab) => `#/flags/${encodeURIComponent(flag)}/${tab}?env=${encodeURIComponent(env)}`;
  const plan = state.plan;
  const g = state.guards;
  const total = g.healthy + g.insufficient_data + g.breached;
  /** @type {[string, string]} */
  const [guardClass, guardText] = g.breached
    ? ['breached', `${g.breached} of ${total} guard${total === 1 ? '' : 's'} breached`]
    : g.insufficient_data
      ? ['insufficient_data', `guard${total === 1 ? '' : 's'}: insufficient data`]
      : ['healthy', `guard${total === 1 ? '' : 's'} healthy`];
  return h('span', { class: 'delivery-state' },
    plan ? h('a', { class: `badge ${plan.state}`, href: at('plan'), dataset: { plan: plan.state } },
      plan.state === 'pending' ? 'plan: not started' : `plan: step ${Math.min(plan.current_step + 1, plan.step_count)}/${plan.step_count} · ${percentText(plan.current_percent)}${plan.state === 'running' ? '' : ` · ${plan.state}`}`) : null,
    total ? h('a', { class: `badge ${guardClass}`, href: at('guards'), dataset: { guards: guardClass } }, guardText) : null);
}

/** @param {number} p */
const percentText = (p) => `${Number(p.toFixed(3))}%`;
