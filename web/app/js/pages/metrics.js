// Metrics: the metrics SDKs track, as objects that guards and experiment results name. Everyone reads them;
// editors create and delete them (a metric a guard uses cannot go).

import { api, seg } from '../api.js';
import { field, h, loadError, replace } from '../dom.js';
import { confirmDialog, showError } from '../forms.js';
import { debounce, onAudit } from '../live.js';
import { session } from '../session.js';

/** @type {import('../router.js').Page} */
export async function metricsPage(view) {
  const table = h('div', { class: 'table-wrap' });
  const status = h('div');
  const editor = session.can('editor');
  const load = async () => {
    try {
      draw((await api.get('/metrics')).items);
    } catch (e) {
      replace(table, loadError(`Could not load metrics: ${e instanceof Error ? e.message : e}`));
    }
  };

  /** @param {any[]} metrics */
  const draw = (metrics) => {
    if (!metrics.length) {
      replace(table, h('p', { class: 'empty' }, 'No metrics yet.'));
      return;
    }
    replace(table, h('table', { class: 'metrics' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Key'),
        h('th', { scope: 'col' }, 'Kind'),
        h('th', { scope: 'col' }, 'Unit'),
        h('th', { scope: 'col' }, 'Better'),
        h('th', { scope: 'col' }, 'Description'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, metrics.map((m) => h('tr', { dataset: { metric: m.key } },
        h('th', { scope: 'row', class: 'mono' }, m.key),
        h('td', null, m.kind === 'rate' ? 'rate (events per exposure)' : 'mean (average value)'),
        h('td', null, m.unit),
        h('td', null, m.direction === 'higher_is_better' ? 'higher' : 'lower'),
        h('td', null, m.description),
        h('td', null, editor ? h('button', {
          type: 'button',
          class: 'button small danger',
          'aria-label': `Delete metric ${m.key}`,
          onclick: async () => {
            if (!(await confirmDialog(`Delete the metric ${m.key}? Its data are no longer kept.`))) return;
            replace(status);
            try {
              await api.del(`/metrics/${seg(m.key)}`);
            } catch (e) {
              showError(status, e);
            }
            await load();
          },
        }, 'Delete') : null))))));
  };

  const key = h('input', { name: 'key', required: true, autocomplete: 'off', placeholder: 'e.g. checkout_error' });
  const kind = h('select', { name: 'kind' }, [['rate', 'rate (events per exposure)'], ['mean', 'mean (average value)']].map(([v, l]) => h('option', { value: v }, l)));
  const direction = h('select', { name: 'direction' }, [['lower_is_better', 'lower is better'], ['higher_is_better', 'higher is better']].map(([v, l]) => h('option', { value: v }, l)));
  const unit = h('input', { name: 'unit', autocomplete: 'off', placeholder: 'e.g. ms' });
  const description = h('input', { name: 'description', autocomplete: 'off' });
  const form = editor ? h('form', { class: 'filters', 'aria-label': 'New metric' },
    field('Metric key', key, { path: 'key' }),
    field('Kind', kind, { path: 'kind' }),
    field('Direction', direction, { path: 'direction' }),
    field('Unit', unit, { path: 'unit' }),
    field('Description', description, { path: 'description' }),
    h('button', { type: 'submit', class: 'button primary' }, 'Create metric')) : null;
  form?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = (/** @type {any} */ el) => el.value.trim();
    try {
      await api.post('/metrics', { key: value(key), kind: value(kind), direction: value(direction), unit: value(unit), description: value(description) });
      /** @type {HTMLInputElement} */ (key).value = '';
      await load();
    } catch (err) {
      showError(form, err);
    }
  });

  replace(view,
    h('h1', null, 'Metrics'),
    h('p', { class: 'hint' }, 'What SDKs track with track(): guards and experiment results name a metric by its key, and only known metrics are kept.'),
    status, form, table);
  await load();
  const reload = debounce(load);
  return onAudit((a) => {
    if (a.resource === 'metric') reload();
  });
}
