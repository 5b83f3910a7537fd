// The dashboard's entry point: signs in, draws the top bar, opens the live stream and routes.

import { api, onSignedOut } from './api.js';
import { h, replace } from './dom.js';
import { keepDraft, restoreDraft } from './draft.js';
import { environments } from './environments.js';
import * as live from './live.js';
import { render, retitle, route, navigate } from './router.js';
import { session } from './session.js';
import { loginPage } from './pages/login.js';
import { registerPages } from './pages/index.js';

/** Main navigation: [path, label, least role]. */
const NAV = [
  ['/flags', 'Flags', 'viewer'],
  ['/segments', 'Segments', 'viewer'],
  ['/metrics', 'Metrics', 'viewer'],
  ['/change-requests', 'Change requests', 'viewer'],
  ['/audit', 'Audit log', 'viewer'],
  ['/environments', 'Environments', 'viewer'],
  ['/connect', 'Connect an SDK', 'viewer'],
  ['/users', 'Users', 'admin'],
  ['/tokens', 'API tokens', 'admin'],
  ['/webhooks', 'Webhooks', 'admin'],
];

async function start() {
  registerPages(route);
  // A 401 while signed in: the session ended (expired, or the user was disabled).
  onSignedOut(() => {
    if (session.user) expired();
  });
  document.addEventListener('pennon:retry', () => void render());
  document.getElementById('sign-out')?.addEventListener('click', async () => {
    await session.signOut().catch(() => {});
    showLogin();
  });
  const select = /** @type {HTMLSelectElement} */ (document.getElementById('env-select'));
  select.addEventListener('change', () => environments.select(select.value));
  environments.onChange(() => {
    drawEnvironments();
    retitle();
  });
  window.addEventListener('hashchange', () => void render());
  document.addEventListener('pennon:navigate', (e) => markNav(/** @type {CustomEvent} */ (e).detail.path));
  live.onChange((c) => {
    if (c.kind === 'environment') void environments.reload().catch(() => {});
  });

  if (await session.load()) await enter();
  else showLogin();
}

/** Signed in: the top bar, the environments, the stream, the page. */
async function enter() {
  const user = session.user;
  if (!user) return showLogin();
  document.body.dataset.role = user.role;
  const bar = /** @type {HTMLElement} */ (document.getElementById('topbar'));
  bar.hidden = false;
  replace(/** @type {HTMLElement} */ (document.getElementById('who')), `${user.name} · ${user.role}`);
  replace(/** @type {HTMLElement} */ (document.getElementById('nav')),
    h('ul', null, NAV.filter(([, , role]) => session.can(/** @type {any} */ (role))).map(([path, label]) =>
      h('li', null, h('a', { href: `#${path}`, dataset: { nav: path } }, label)))));
  await environments.reload().catch(() => {});
  live.connect({
    // Back after an outage: a page showing a load error loads again; the others are told that changes may
    // have been missed meanwhile, and reload what they show.
    reconnected: () => {
      if (document.querySelector('#view .load-error')) void render();
      else live.missedChanges();
    },
  });
  watchSession();
  if (!location.hash || location.hash === '#/login') navigate('/flags');
  else await render();
  const view = document.querySelector('#view > div');
  if (view instanceof HTMLElement && restoreDraft(view)) {
    view.prepend(h('p', { class: 'alert alert-info draft-restored', role: 'status' }, 'What you had typed before signing in again is back. It is not saved yet.'));
  }
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let sessionTimer;

/**
 * Notices the end of the session without waiting for the next action: at the time the sign-in said (and
 * every few minutes, for sessions signed in elsewhere) it asks the server who we are; a 401 ends it.
 */
function watchSession() {
  clearTimeout(sessionTimer);
  const at = session.expiresAt;
  const wait = at ? Math.max(1000, Math.min(at - Date.now() + 500, 300_000)) : 300_000;
  sessionTimer = setTimeout(async () => {
    try {
      await api.get('/auth/me');
    } catch {
      // A 401 has ended the session by now; anything else (the server away) is tried again later.
    }
    if (session.user) watchSession();
  }, wait);
}

/** The session ended while signed in: keep the page's input, stop the stream, and say so at sign-in. */
function expired() {
  const view = document.querySelector('#view > div');
  if (view instanceof HTMLElement) keepDraft(view);
  showLogin('Your session expired. Sign in again to carry on; what you had typed is kept.');
}

/** @param {string} [notice] why sign-in is asked for */
function showLogin(notice) {
  clearTimeout(sessionTimer);
  document.title = 'Sign in — Pennon';
  live.disconnect();
  session.clear();
  delete document.body.dataset.role;
  /** @type {HTMLElement} */ (document.getElementById('topbar')).hidden = true;
  replace(/** @type {HTMLElement} */ (document.getElementById('alerts')));
  loginPage(/** @type {HTMLElement} */ (document.getElementById('view')), enter, notice);
}

function drawEnvironments() {
  const select = /** @type {HTMLSelectElement} */ (document.getElementById('env-select'));
  const current = environments.current;
  replace(select, environments.list.map((e) =>
    h('option', { value: e.key, selected: e.key === current }, e.production ? `${e.name} (production)` : e.name)));
}

/** @param {string} path */
function markNav(path) {
  document.querySelectorAll('#nav a').forEach((a) => {
    const nav = /** @type {HTMLElement} */ (a).dataset.nav ?? '';
    if (path === nav || path.startsWith(`${nav}/`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

void start();
