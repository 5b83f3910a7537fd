// The dashboard's entry point: signs in, draws the top bar, opens the live stream and routes.

import { onSignedOut } from './api.js';
import { h, replace } from './dom.js';
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
  ['/audit', 'Audit log', 'viewer'],
  ['/environments', 'Environments', 'viewer'],
  ['/connect', 'Connect an SDK', 'viewer'],
  ['/users', 'Users', 'admin'],
  ['/tokens', 'API tokens', 'admin'],
];

async function start() {
  registerPages(route);
  onSignedOut(() => showLogin());
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
  live.connect();
  if (!location.hash || location.hash === '#/login') navigate('/flags');
  else await render();
}

function showLogin() {
  live.disconnect();
  session.clear();
  delete document.body.dataset.role;
  /** @type {HTMLElement} */ (document.getElementById('topbar')).hidden = true;
  replace(/** @type {HTMLElement} */ (document.getElementById('alerts')));
  loginPage(/** @type {HTMLElement} */ (document.getElementById('view')), enter);
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
