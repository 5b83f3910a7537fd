// How a flag's config reads at a glance: what the default serves (a variant, or a split such as `on 25%`).

/** Weights are in units of 1/100000. @param {number} weight */
export const percent = (weight) => `${Number((weight / 1000).toFixed(3))}%`;

/**
 * @param {any} flag the definition (for the kind)
 * @param {any} config the config in one environment
 */
export function serveSummary(flag, config) {
  if (!config.enabled) return `off → ${config.off_variant}`;
  const serve = config.default;
  if (serve?.variant !== undefined) return serve.variant;
  const weights = serve?.split?.weights ?? [];
  if (flag.kind === 'boolean') {
    const on = weights.find((/** @type {any} */ w) => w.variant === 'on');
    return `on ${percent(on?.weight ?? 0)}`;
  }
  return weights.filter((/** @type {any} */ w) => w.weight > 0).map((/** @type {any} */ w) => `${w.variant} ${percent(w.weight)}`).join(' · ');
}

/**
 * The rollout plan's step and the guards' state of a flag in an environment, when it has them.
 * @param {string} _flag @param {string} _env
 * @returns {HTMLElement | null}
 */
export function stateCells(_flag, _env) {
  return null;
}
