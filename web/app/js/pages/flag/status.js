// Whether the flag is on in this environment (production asks first), and the variant it serves when off.

import { api } from '../../api.js';
import { h } from '../../dom.js';
import { confirmDialog } from '../../forms.js';
import { variantLabel } from './serve.js';
import { who } from '../sentences.js';

/** @param {import('./targeting.js').Ctx} ctx */
export function statusSection(ctx) {
  const { config, environment } = ctx;
  const envName = environment?.name ?? ctx.env;
  const section = h('section', { class: 'card status', 'aria-labelledby': 'status-title', dataset: { section: 'status' } },
    h('h2', { id: 'status-title', class: 'visually-hidden' }, 'Status'));
  const toggle = h('button', {
    type: 'button',
    class: `switch ${config.enabled ? 'on' : 'off'}`,
    role: 'switch',
    'aria-checked': String(config.enabled),
    'aria-label': `${ctx.flag.key} in ${envName}`,
    disabled: !ctx.canEdit,
    onclick: async () => {
      const enable = !config.enabled;
      if (environment?.production && !(await confirmDialog(`Turn ${ctx.flag.key} ${enable ? 'on' : 'off'} in ${envName}, a production environment?`))) return;
      ctx.focusAfter = ['[data-section="status"] .switch'];
      await ctx.write(section, (version) => api.post(`${ctx.base}/toggle`, { enabled: enable }, version), true);
    },
  });
  const off = /** @type {HTMLSelectElement} */ (h('select', { id: 'off-variant', disabled: !ctx.canEdit },
    ctx.flag.variants.map((/** @type {any} */ v) => h('option', { value: v.key, selected: v.key === config.off_variant }, variantLabel(v)))));
  off.addEventListener('change', async () => {
    const { updated_at: _at, updated_by: _by, ...whole } = config;
    ctx.focusAfter = ['[data-section="status"] select'];
    // Not saved (cancelled or refused): the select shows what is stored.
    if (!(await ctx.write(section, (version) => api.put(ctx.base, { ...whole, off_variant: off.value, version }, version)))) off.value = config.off_variant;
  });
  section.append(h('div', { class: 'status-row' },
    h('div', { class: 'env-state' }, toggle, h('strong', { class: 'state-text' }, config.enabled ? 'On' : 'Off'), ` in ${envName}`),
    h('div', { class: 'field inline', dataset: { path: 'off_variant' } },
      h('label', { for: 'off-variant' }, 'When off, serve'), off, h('p', { class: 'field-error', hidden: true }))),
    h('p', { class: 'hint' }, `Version ${config.version}, last changed by ${config.updated_by ? who(config.updated_by) : 'someone unknown'}.`));
  return section;
}
