// Approvals on the flag page, where the environment requires them: the card saying that a change here is
// proposed (with the comment it carries and, for admins, the reason to apply at once instead), the banner of
// the change requests still open for this flag here, and the notice a proposed change leaves.

import { api, ApiError, seg } from '../../api.js';
import { field, h } from '../../dom.js';
import { who } from '../sentences.js';

/** States of a change request that still waits. */
export const OPEN_STATES = ['pending', 'stale'];

/** Headers a browser can send: printable ASCII only (fetch refuses or mangles the rest). */
const SENDABLE = /^[\x20-\x7e]*$/;

/**
 * The change requests still open for a flag in an environment, newest first (none when it cannot tell).
 * @param {string} flag @param {string} env
 * @returns {Promise<any[]>}
 */
export async function openRequests(flag, env) {
  const pages = await Promise.all(OPEN_STATES.map((state) =>
    api.get('/change-requests', { flag, environment: env, state, limit: 50 }).then((p) => p.items).catch(() => [])));
  return pages.flat().sort((a, b) => b.id - a.id);
}

/** `#/change-requests/7`. @param {any} request */
export const requestHref = (request) => `#/change-requests/${seg(String(request.id))}`;

/** How many more approvals a request needs. @param {any} request */
export const approvalsLeft = (request) => Math.max(0, request.approvals_required - request.approvals.length);

/** `1 approval`, `2 approvals`. @param {number} n */
export const approvalsText = (n) => `${n} approval${n === 1 ? '' : 's'}`;

/**
 * The card above the sections where changes need approval; null elsewhere. Its fields are read by
 * `headers` when a section writes.
 * @param {import('./targeting.js').Ctx} ctx
 */
export function approvalCard(ctx) {
  const required = ctx.environment?.approvals_required ?? 0;
  if (!required || !ctx.canEdit) return null;
  const name = ctx.environment?.name ?? ctx.env;
  const comment = h('input', { type: 'text', name: 'comment', maxlength: '2000', autocomplete: 'off' });
  const bypass = ctx.isAdmin ? h('input', { type: 'text', name: 'bypass_reason', maxlength: '2000', autocomplete: 'off' }) : null;
  const form = h('form', { class: 'card approval-card', 'aria-labelledby': 'approval-title', dataset: { section: 'approvals' } },
    h('h2', { id: 'approval-title' }, 'Changes here need approval'),
    h('p', null, `${name} requires ${approvalsText(required)} for a config change. A change you make on this page is `,
      h('strong', null, 'proposed'), ' as a change request; the config stays as it is until it is approved. ',
      h('a', { href: `#/change-requests?environment=${seg(ctx.env)}` }, 'Change requests here')),
    field('Comment for the approvers', comment, { path: 'x-pennon-comment', hint: 'Sent with the next change you propose.' }),
    bypass ? field('Bypass reason (admins)', bypass, {
      path: 'x-pennon-bypass-reason',
      hint: 'With a reason, your next change applies at once without approvals; the reason is kept in the audit log. The server may forbid it.',
    }) : null);
  form.addEventListener('submit', (e) => e.preventDefault());
  ctx.track(form);
  return form;
}

/**
 * The approval headers for the next change, from the card; throws (naming the field) on text a browser
 * cannot send.
 * @param {HTMLElement} view
 * @returns {Record<string, string>}
 */
export function approvalHeaders(view) {
  /** @type {Record<string, string>} */
  const headers = {};
  for (const [name, header] of [['comment', 'x-pennon-comment'], ['bypass_reason', 'x-pennon-bypass-reason']]) {
    const input = view.querySelector(`.approval-card [name="${name}"]`);
    const value = input instanceof HTMLInputElement ? input.value.trim() : '';
    if (!value) continue;
    if (!SENDABLE.test(value)) {
      throw new ApiError(400, { detail: `${header}: the browser can send only plain ASCII text here`, field: header });
    }
    headers[header] = value;
  }
  return headers;
}

/**
 * Says that a change was proposed, not made: `Change request #7 waits for 1 approval`, with a link.
 * @param {any} request the 202 answer
 */
export function proposedNotice(request) {
  const left = approvalsLeft(request);
  return h('div', { class: 'alert alert-info proposed', role: 'status', dataset: { request: String(request.id) } }, h('span', null,
    h('strong', null, `Change request #${request.id} waits for ${approvalsText(left)}. `),
    'The config shown is still the current one; the change applies once it is approved. ',
    h('a', { href: requestHref(request) }, `Open change request #${request.id}`)));
}

/**
 * The banner of the change requests open for this flag in this environment; null when there are none.
 * @param {import('./targeting.js').Ctx} ctx
 */
export function openRequestsBanner(ctx) {
  const open = ctx.requests;
  if (!open.length) return null;
  return h('div', { class: 'alert alert-warn open-requests', role: 'status' }, h('span', null,
    h('strong', null, `${open.length} change request${open.length === 1 ? '' : 's'} open here: `),
    open.slice(0, 5).map((r, i) => [i ? ', ' : '',
      h('a', { href: requestHref(r) }, `#${r.id}`),
      ` by ${who(r.author)} (${r.state === 'stale' ? 'stale, needs a rebase' : `waits for ${approvalsText(approvalsLeft(r))}`})`]),
    open.length > 5 ? ', …' : '', '.'));
}
