// Plain language, sessions and outages: the audit log and a flag's history say in sentences what happened,
// a plan's step is one audit row, Undo and "Restore this version"; the Connect an SDK page with copyable
// snippets; a session that ends is noticed without an action, keeps the half-filled form and stops the
// stream; a failed load offers Retry.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN, launchBrowser, signedInPage, startServer } from './harness.mjs';

describe('plain language, sessions and outages', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer({ PENNON_PLAN_TICK: '1' });
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/environments', { key: 'production', name: 'Production', production: true });
    await server.admin.post('/flags', { key: 'dark-mode', kind: 'boolean' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('history and audit in sentences, one row per plan step, Undo, and Connect an SDK', async () => {
    const config = '/flags/dark-mode/environments/production';
    await server.admin.post(`${config}/toggle`, { enabled: true });
    await server.admin.put(`${config}/default`, { rollout: { variant: 'on', percent: 10 } });
    await server.admin.put(`${config}/default`, { rollout: { variant: 'on', percent: 25 } });
    const plan = '/flags/dark-mode/environments/staging/rollout-plan';
    await server.admin.put(plan, { variant: 'on', steps: [{ percent: 50, hold: '1s' }, { percent: 100 }] });
    await server.admin.post(`${plan}/start`);

    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/audit?flag=dark-mode`);
    await page.locator('tr.audit-row', { hasText: 'admin@example.com turned dark-mode on in Production.' }).waitFor();
    await page.locator('tr.audit-row', { hasText: 'admin@example.com changed dark-mode in Production: default 10% on · 90% off → 25% on · 75% off.' }).waitFor();
    // The plan's steps: one row each, not a plan row and a config row.
    await page.locator('tr.audit-row[data-action="plan.complete"]').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('tr.audit-row[data-action^="config.plan."]').count(), 0);
    assert.equal(await page.locator('tr.audit-row[data-action="plan.start"]').count(), 1);

    // The newest version can be undone; production asks first.
    await page.goto(`${server.url}/#/flags/dark-mode/history?env=production`);
    const newest = page.locator('li.version').first();
    await newest.getByText('admin@example.com changed dark-mode in Production: default 10% on · 90% off → 25% on · 75% off.').waitFor();
    await newest.getByRole('button', { name: 'Undo' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Restored version 3: now version 5.').waitFor();
    const now = await server.admin.get(config);
    assert.equal(now.default.split.weights.find((/** @type {any} */ w) => w.variant === 'on').weight, 10_000);
    assert.equal(await page.locator('li.version[data-version="3"]').getByRole('button', { name: 'Restore version 3' }).innerText(), 'Restore this version');

    // Connect an SDK, from the main navigation: snippets that name this server, copied with a click.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connect an SDK' }).click();
    await page.getByRole('heading', { name: 'Connect an SDK' }).waitFor();
    const rust = page.locator('[data-snippet="rust"]');
    assert.match(await rust.locator('pre').innerText(), new RegExp(`Client::builder\\("${server.url}"`));
    assert.match(await page.locator('[data-snippet="ofrep-web"] pre').innerText(), /OFREPWebProvider/);
    await rust.getByRole('button', { name: /Copy/ }).click();
    await rust.getByText('Copied.').waitFor();
    assert.match(await page.evaluate(() => navigator.clipboard.readText()), /pennon_sdk::\{Client, Context\}/);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a failed load offers Retry, which loads the page again', async () => {
    const page = await signedInPage(browser, server.url);
    await page.locator('tr[data-flag="dark-mode"]').waitFor();
    await page.route(/\/api\/v1\/flags\/dark-mode$/, (route) => route.fulfill({ status: 503, contentType: 'application/problem+json', body: '{"title":"Service Unavailable","status":503,"detail":"the database is unavailable"}' }));
    await page.goto(`${server.url}/#/flags/dark-mode/history?env=staging`);
    const error = page.locator('.load-error');
    await error.getByText('Could not load the flag').waitFor();
    await page.unroute(/\/api\/v1\/flags\/dark-mode$/);
    await error.getByRole('button', { name: 'Retry' }).click();
    await page.locator('li.version').first().waitFor();
    await page.context().close();
  });

  test('after an outage the page loads again by itself when the live stream is back', async () => {
    let own = await startServer();
    const listen = new URL(own.url).host;
    await own.stop();
    own = await startServer({ PENNON_LISTEN: listen });
    try {
      await own.admin.post('/environments', { key: 'staging', name: 'Staging' });
      await own.admin.post('/flags', { key: 'calm', kind: 'boolean' });
      const page = await signedInPage(browser, own.url);
      await page.waitForFunction(() => document.body.dataset.live === 'connected');
      // The server goes away: the stream breaks, a page opened meanwhile cannot load.
      await own.stop({ keep: true });
      await page.waitForFunction(() => document.body.dataset.live === 'reconnecting');
      await page.goto(`${own.url}/#/flags/calm/history?env=staging`).catch(() => {});
      await page.locator('.load-error').waitFor();
      // Back on the same address and database: no Retry clicked, the stream's return loads the page.
      own = await startServer({ PENNON_LISTEN: listen }, { dir: own.dir });
      await page.locator('li.version').first().waitFor({ timeout: 20_000 });
      await page.context().close();
    } finally {
      await own.stop();
    }
  });

  test('an ended session is noticed without an action, stops the stream and keeps the half-filled form', async () => {
    const short = await startServer({ PENNON_SESSION_TTL: '5' });
    try {
      const page = await signedInPage(browser, short.url);
      await page.waitForFunction(() => document.body.dataset.live === 'connected');
      await page.getByRole('link', { name: 'New flag' }).click();
      await page.getByLabel('Key').fill('half-typed');
      await page.getByLabel('Description').fill('not saved yet');
      // Nothing is clicked: the page finds out by itself.
      await page.getByText('Your session expired.').waitFor({ timeout: 15_000 });
      assert.equal(await page.evaluate(() => document.body.dataset.live), 'closed');
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('.draft-restored').waitFor();
      assert.equal(await page.getByLabel('Key').inputValue(), 'half-typed');
      assert.equal(await page.getByLabel('Description').inputValue(), 'not saved yet');
      await page.context().close();
    } finally {
      await short.stop();
    }
  });

  test('a session started elsewhere is noticed at its expiry, which /auth/me reports', async () => {
    const short = await startServer({ PENNON_SESSION_TTL: '4' });
    try {
      // The session comes from the API, not from this browser's sign-in form: only the server knows its end.
      const me = await short.admin.get('/auth/me');
      assert.ok(Date.parse(me.expires_at) > Date.now(), me.expires_at);
      const context = await browser.newContext();
      await context.addCookies([{ name: 'pennon_session', value: short.admin.token, url: short.url }]);
      const page = await context.newPage();
      await page.goto(`${short.url}/#/flags`);
      await page.getByRole('heading', { name: 'Flags' }).waitFor();
      await page.waitForFunction(() => document.body.dataset.live === 'connected');
      await page.getByText('Your session expired.').waitFor({ timeout: 15_000 });
      assert.equal(await page.evaluate(() => document.body.dataset.live), 'closed');
      await context.close();
    } finally {
      await short.stop();
    }
  });

  test('every page fits a phone (390 px) without scrolling sideways', async () => {
    await server.admin.post('/segments', { key: 'beta-users', name: 'Beta users', included: ['alice'] });
    const page = await signedInPage(browser, server.url, ADMIN, { width: 390, height: 844 });
    const pages = ['/flags', '/flags/new', '/flags/dark-mode?env=production', '/flags/dark-mode/plan?env=staging',
      '/flags/dark-mode/guards?env=staging', '/flags/dark-mode/history?env=production', '/segments', '/segments/new',
      '/segments/beta-users', '/audit', '/change-requests', '/environments', '/environments/production', '/users', '/tokens', '/connect'];
    /** @type {string[]} */
    const wide = [];
    for (const path of pages) {
      await page.goto(`${server.url}/#${path}`);
      await page.locator('#view h1').first().waitFor();
      await page.waitForFunction(() => !document.querySelector('#view .loading, #view [aria-busy="true"]'));
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      if (width > 390) wide.push(`${path}: ${width}px`);
    }
    assert.deepEqual(wide, []);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
});
