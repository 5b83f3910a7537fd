// One change request (`#/change-requests/:id`): what it changes (field by field, and the config's changed
// lines), who proposed it and why, its approvals, and what the caller may do with it: approve or reject it
// (others than its author), rebase it when the config moved on (its author; the page shows what changed
// meanwhile), cancel it (its author or an admin). The approval that reaches the number required applies it,
// so there is no separate Apply. Decisions made elsewhere redraw the page.

import { api, ApiError, seg } from '../api.js';
import { append, field, h, loadError, replace, time } from '../dom.js';
import { environments } from '../environments.js';
import { clearErrors, confirmDialog, showError } from '../forms.js';
import { debounce, onAudit } from '../live.js';
import { session } from '../session.js';
import { stateBadge } from './change-requests.js';
import { approvalsLeft, approvalsText, OPEN_STATES } from './flag/approvals.js';
import { configDiff } from './flag/diff.js';
import { configChanges, who } from './sentences.js';

/** The config the request is based on: the proposed one with each changed field as it was. @param {any} r */
export function baseConfig(r) {
  return { ...r.proposed, version: r.base_version, ...Object.fromEntries(r.diff.map((/** @type {any} */ d) => [d.field, d.before])) };
}

/** The caller as the API names actors (`user:ann@example.com`, `token:ci`). */
function me() {
  const u = session.user;
  return u ? `${u.kind === 'token' ? 'token' : 'user'}:${u.name}` : '';
}

/** A field's value, readable: booleans and strings as they are, the rest as indented JSON. @param {any} v */
function value(v) {
  if (v === null || v === undefined) return h('span', { class: 'hint' }, 'none');
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && !v.length) return h('span', { class: 'hint' }, 'none');
  return h('pre', { class: 'field-value' }, JSON.stringify(v, null, 2));
}

/** The field-level diff: one row per changed field, said in words and shown as it was and as proposed. @param {any} r */
function fieldTable(r) {
  if (!r.diff.length) return h('p', { class: 'empty' }, 'It changes nothing.');
  const base = baseConfig(r);
  const said = (/** @type {any} */ d) => configChanges(base, { ...base, [d.field]: d.after }).join('; ') || `${d.field} changed`;
  return h('div', { class: 'table-wrap' }, h('table', { class: 'request-diff' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Field'),
      h('th', { scope: 'col' }, 'Change'),
      h('th', { scope: 'col' }, `Before (version ${r.base_version})`),
      h('th', { scope: 'col' }, 'Proposed'))),
    h('tbody', null, r.diff.map((/** @type {any} */ d) => h('tr', { dataset: { field: d.field } },
      h('th', { scope: 'row' }, d.field),
      h('td', { class: 'said' }, said(d)),
      h('td', { class: 'before' }, value(d.before)),
      h('td', { class: 'after' }, value(d.after)))))));
}

/** @type {import('../router.js').Page} */
export async function changeRequestPage(view, params) {
  const id = params.id;
  const path = `/change-requests/${seg(id)}`;
  const status = h('div', { class: 'request-status', role: 'status' });
  /** @type {any} */
  let request;

  const load = async () => {
    request = await api.get(path);
    // What changed meanwhile, for a stale request: the config now against the one it is based on.
    const now = request.state === 'stale'
      ? await api.get(`/flags/${seg(request.flag)}/environments/${seg(request.environment)}`).catch(() => null)
      : null;
    // Who changed it last is not part of the config.
    const { updated_at: _at, updated_by: _by, ...current } = now ?? {};
    draw(now ? current : null);
  };

  /**
   * Runs an action; its answer is the request as it is now. A refusal is shown in `where`.
   * @param {HTMLElement} where @param {() => Promise<any>} call @param {(r: any) => string} said
   */
  const act = async (where, call, said) => {
    clearErrors(where);
    where.setAttribute('aria-busy', 'true');
    try {
      request = await call();
    } catch (e) {
      where.removeAttribute('aria-busy');
      // Stale or decided meanwhile: show the request as it is now, with the reason.
      if (e instanceof ApiError && e.status === 409) {
        await load().catch(() => {});
        replace(status, h('p', { class: 'alert alert-danger', role: 'alert' }, e.message));
      } else {
        showError(where, e);
      }
      return;
    }
    where.removeAttribute('aria-busy');
    await load().catch(() => {});
    replace(status, h('p', { class: 'alert alert-ok' }, said(request)));
  };

  /** @param {any | null} current */
  const draw = (current) => {
    const r = request;
    const env = environments.byKey(r.environment);
    const flagHref = `#/flags/${seg(r.flag)}?env=${seg(r.environment)}`;
    const open = OPEN_STATES.includes(r.state);
    replace(view,
      h('p', { class: 'crumbs' }, h('a', { href: '#/change-requests' }, 'Change requests'), ' / '),
      h('h1', null, `Change request #${r.id}`, stateBadge(r)),
      h('p', { class: 'key' }, h('a', { href: flagHref }, r.flag), ` in ${env?.name ?? r.environment}`,
        env?.production ? h('span', { class: 'badge danger' }, 'production') : null, ` · ${r.action}`),
      status,
      summary(r),
      r.state === 'stale' ? staleSection(r, current) : null,
      h('section', { class: 'card', 'aria-labelledby': 'request-diff-title' },
        h('h2', { id: 'request-diff-title' }, 'What it changes'),
        fieldTable(r),
        h('details', { class: 'version-diff' }, h('summary', null, 'The config\'s changed lines'),
          configDiff(baseConfig(r), r.proposed))),
      approvalsSection(r),
      open ? actions(r) : null);
  };

  /** Who, why, and where it stands. @param {any} r */
  const summary = (r) => h('section', { class: 'card request-summary', 'aria-label': 'Summary' },
    h('dl', { class: 'facts' },
      h('dt', null, 'Proposed by'), h('dd', { class: 'author' }, who(r.author), ' ', h('span', { class: 'hint' }, time(r.created_at))),
      h('dt', null, 'Comment'), h('dd', { class: 'comment' }, r.comment ?? h('span', { class: 'hint' }, 'none')),
      h('dt', null, 'Based on'), h('dd', null, `version ${r.base_version} (the config is at version ${r.current_version} now)`),
      r.decided_by ? [h('dt', null, r.state === 'applied' ? 'Applied by' : r.state === 'rejected' ? 'Rejected by' : 'Decided by'),
        h('dd', { class: 'decided' }, who(r.decided_by), ' ', h('span', { class: 'hint' }, time(r.updated_at)))] : null,
      r.reason ? [h('dt', null, 'Reason'), h('dd', { class: 'reason' }, r.reason)] : null,
      r.applied_version ? [h('dt', null, 'Made'), h('dd', null, h('a', { href: `#/flags/${seg(r.flag)}/history?env=${seg(r.environment)}` }, `version ${r.applied_version}`))] : null));

  /** @param {any} r */
  const approvalsSection = (r) => h('section', { class: 'card request-approvals', 'aria-labelledby': 'approvals-title' },
    h('h2', { id: 'approvals-title' }, `Approvals: ${r.approvals.length} of ${r.approvals_required}`),
    r.approvals.length
      ? h('ul', null, r.approvals.map((/** @type {any} */ a) => h('li', { class: 'approval' }, who(a.actor), ' ', h('span', { class: 'hint' }, time(a.time)))))
      : h('p', { class: 'empty' }, 'None yet.'),
    r.state === 'pending' ? h('p', { class: 'hint' }, `It needs ${approvalsLeft(r)} more approval${approvalsLeft(r) === 1 ? '' : 's'}; the last one applies the change at once.`) : null);

  /** The config moved on: what changed meanwhile, and the rebase (its author). @param {any} r @param {any | null} current */
  const staleSection = (r, current) => {
    const section = h('section', { class: 'card stale-request', 'aria-labelledby': 'stale-title' },
      h('h2', { id: 'stale-title' }, 'The config changed since this was proposed'),
      h('p', null, `It was based on version ${r.base_version}; the config is at version ${r.current_version}. It cannot be approved until its author rebases it onto the current config.`),
      current ? h('details', { class: 'version-diff', open: true }, h('summary', null, 'What changed meanwhile'), configDiff(baseConfig(r), current)) : null);
    if (r.author === me()) {
      section.append(h('div', { class: 'actions' }, h('button', {
        type: 'button', class: 'button primary',
        onclick: () => void act(section, () => api.post(`${path}/rebase`), (x) => `Rebased onto version ${x.base_version}; its approvals start again.`),
      }, 'Rebase onto the current config')));
    } else {
      section.append(h('p', { class: 'hint' }, `Only ${who(r.author)} can rebase it.`));
    }
    return section;
  };

  /** Approve, reject, cancel: what the caller may do. @param {any} r */
  const actions = (r) => {
    if (!session.can('editor')) return h('p', { class: 'hint' }, 'Approving or rejecting needs the editor role.');
    const mine = r.author === me();
    const approved = r.approvals.some((/** @type {any} */ a) => a.actor === me());
    const section = h('section', { class: 'card request-actions', 'aria-labelledby': 'decide-title' },
      h('h2', { id: 'decide-title' }, 'Decide'));
    const why = mine ? 'You proposed this change: someone else must approve it.'
      : approved ? 'You have approved it already.'
        : r.state === 'stale' ? 'It is stale: its author must rebase it first.' : null;
    append(section, [h('div', { class: 'actions' },
      h('button', {
        type: 'button', class: 'button primary', disabled: Boolean(why), 'aria-describedby': why ? 'approve-why' : null,
        onclick: () => void act(section, () => api.post(`${path}/approve`),
          (x) => (x.state === 'applied' ? `Approved and applied: the config is at version ${x.applied_version}.` : `Approved; it waits for ${approvalsText(approvalsLeft(x))} more.`)),
      }, 'Approve')),
    why ? h('p', { class: 'hint', id: 'approve-why' }, why) : null]);
    if (!mine) {
      const comment = h('textarea', { name: 'comment', rows: '2', maxlength: '2000' });
      const form = h('form', { class: 'reject-form' },
        field('Reason for rejecting', comment, { path: 'comment' }),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button danger' }, 'Reject')));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const text = /** @type {HTMLTextAreaElement} */ (comment).value.trim();
        void act(form, () => api.post(`${path}/reject`, { comment: text }), () => 'Rejected: it will not be applied.');
      });
      section.append(form);
    }
    if (mine || session.can('admin')) {
      section.append(h('div', { class: 'actions' }, h('button', {
        type: 'button', class: 'button subtle',
        onclick: async () => {
          if (!(await confirmDialog(`Cancel change request #${r.id}? It will not be applied.`))) return;
          await act(section, () => api.del(path), () => 'Cancelled.');
        },
      }, 'Cancel the request')));
    }
    return section;
  };

  try {
    await load();
  } catch (e) {
    replace(view, h('p', { class: 'crumbs' }, h('a', { href: '#/change-requests' }, 'Change requests'), ' / '),
      h('h1', null, `Change request #${id}`),
      e instanceof ApiError && e.status === 404
        ? h('p', { class: 'alert alert-danger', role: 'alert' }, `There is no change request #${id}.`)
        : loadError(`Could not load the change request: ${e instanceof Error ? e.message : e}`));
    return;
  }
  // Approved, rejected or rebased elsewhere: draw it again (unless a reason is being typed).
  const reload = debounce(() => {
    const typing = view.querySelector('.reject-form textarea');
    if (typing instanceof HTMLTextAreaElement && typing.value.trim()) return;
    void load().catch(() => {});
  });
  return onAudit((a) => {
    if (a.resource === 'change_request' && a.resource_key === String(request.id)) reload();
    else if (request && a.flag === request.flag && a.environment === request.environment) reload();
  });
}
