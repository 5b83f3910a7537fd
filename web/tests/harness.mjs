// What every browser test needs: a real Pennon server on 127.0.0.1 with a fresh SQLite database, an API
// client for arranging data the way automation would, and headless Chromium (Debian's, never a download).

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
export const ADMIN = { email: 'admin@example.com', password: 'correct horse battery staple' };
export const SCREENSHOTS = join(HERE, 'screenshots');

/** The server binary: PENNON_BIN, or the workspace's debug build. */
function binary() {
  if (process.env.PENNON_BIN) return process.env.PENNON_BIN;
  const target = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
  return join(target, 'debug', 'pennon');
}

/**
 * Starts `pennon serve` on a free port with a fresh database in a temporary directory, the first admin
 * created from ADMIN. `env` adds settings (e.g. `PENNON_GUARD_INTERVAL`). `opts.dir` starts it again on the
 * database of an earlier server stopped with `stop({keep: true})` (give its address as PENNON_LISTEN).
 * @param {Record<string, string>} [env]
 * @param {{dir?: string}} [opts]
 */
export async function startServer(env = {}, opts = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pennon-web-'));
  const child = spawn(binary(), ['serve'], {
    cwd: dir,
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(dir, 'pennon.db')}?mode=rwc`,
      PENNON_LISTEN: '127.0.0.1:0',
      PENNON_LOG_FORMAT: 'json',
      PENNON_ADMIN_EMAIL: ADMIN.email,
      PENNON_ADMIN_PASSWORD: ADMIN.password,
      PENNON_SHUTDOWN_GRACE: '1',
      RUST_LOG: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  /** @type {string[]} */
  const log = [];
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 30 s:\n${log.join('\n')}`)), 30_000);
    const onLine = (/** @type {string} */ line) => {
      log.push(line);
      if (log.length > 500) log.shift();
      if (!line.includes('pennon listening')) return;
      const addr = /"addr":"([^"]+)"/.exec(line)?.[1];
      if (addr) {
        clearTimeout(timer);
        resolveUrl(`http://${addr}`);
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening:\n${log.join('\n')}`));
    });
  });
  const admin = await Api.signIn(url, ADMIN.email, ADMIN.password);
  return {
    url,
    admin,
    log,
    dir,
    /** Stops the server; `keep` leaves its database for a restart. @param {{keep?: boolean}} [how] */
    async stop(how = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (!how.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The REST API with a bearer token, for arranging and checking state beside the browser. */
export class Api {
  /** @param {string} url @param {string} token */
  constructor(url, token) {
    this.url = url;
    this.token = token;
  }

  /** @param {string} url @param {string} email @param {string} password */
  static async signIn(url, email, password) {
    const answer = await new Api(url, '').call('POST', '/auth/login', { email, password });
    return new Api(url, answer.token);
  }

  /**
   * Calls `/api/v1{path}`; throws with the problem body on a non-2xx answer.
   * @param {string} method @param {string} path @param {any} [body] @param {number} [version]
   */
  async call(method, path, body, version) {
    /** @type {Record<string, string>} */
    const headers = { 'content-type': 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (version !== undefined) headers['if-match'] = `"${version}"`;
    const response = await fetch(`${this.url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return data;
  }

  /** @param {string} path */
  get(path) {
    return this.call('GET', path);
  }

  /** @param {string} path @param {any} [body] @param {number} [version] */
  post(path, body = {}, version = undefined) {
    return this.call('POST', path, body, version);
  }

  /** @param {string} path @param {any} body @param {number} [version] */
  put(path, body, version = undefined) {
    return this.call('PUT', path, body, version);
  }

  /** A user with a role, returning its credentials. @param {'viewer'|'editor'|'admin'} role */
  async createUser(role) {
    const user = { email: `${role}-${Date.now()}@example.com`, password: `a long ${role} password`, role };
    await this.post('/users', user);
    return user;
  }
}

/** Headless Debian Chromium (CHROMIUM overrides the path). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/**
 * A new page signed in as `user` (the admin by default), at the flags list.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {{email: string, password: string}} [user]
 * @param {{width: number, height: number}} [viewport]
 */
export async function signedInPage(browser, url, user = ADMIN, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  await page.goto(url);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Flags' }).waitFor();
  return Object.assign(page, { jsErrors: errors });
}

/**
 * Saves a screenshot under web/tests/screenshots/.
 * @param {import('playwright-core').Page} page @param {string} name
 */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
