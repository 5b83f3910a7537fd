// The flags list as a first-time user meets it: a new boolean flag serves `on` when turned on and every cell
// says in words what it serves; the page loads in one request for the flags (500 of them) with a loading
// state, and a switch sends one request however fast it is clicked; search as you type, sorting, the
// last-changed column and Archived as an including filter.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

describe('flags list, first use', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/environments', { key: 'production', name: 'Production', production: true });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a new boolean flag turned on serves on, and each cell says what it serves', async () => {
    const page = await signedInPage(browser, server.url);
    await page.getByRole('link', { name: 'New flag' }).click();
    await page.getByLabel('Key').fill('dark-mode');
    await page.getByRole('button', { name: 'Create flag' }).click();
    await page.waitForURL(/#\/flags\/dark-mode/);
    await page.locator('[data-section="default"] .default-now', { hasText: 'on' }).waitFor();
    await page.goto(`${server.url}/#/flags`);
    const row = page.locator('tr[data-flag="dark-mode"]');
    await row.locator('[data-env="staging"]').getByText('Off — would serve on').waitFor();
    await row.getByRole('switch', { name: 'dark-mode in Staging' }).click();
    await row.locator('[data-env="staging"]').getByText('On — serves on').waitFor();
    const answer = await server.admin.post('/evaluate', { environment: 'staging', flag: 'dark-mode', context: { key: 'user-1' } });
    const evaluation = answer.evaluations?.[0] ?? answer;
    assert.equal(evaluation.variant, 'on');
    assert.equal(evaluation.value, true);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('search as you type, sortable columns with the last change, Archived includes', async () => {
    await server.admin.post('/flags', { key: 'theme', kind: 'boolean', description: 'Night theme for the app' });
    await server.admin.post('/flags', { key: 'refunds', kind: 'boolean', tags: ['Payments'] });
    await server.admin.post('/flags', { key: 'old-banner', kind: 'boolean' });
    await server.admin.post('/flags/old-banner/archive');
    await server.admin.post('/flags/refunds/environments/staging/toggle', { enabled: true });
    const page = await signedInPage(browser, server.url);
    const rows = page.locator('tbody tr');
    await page.locator('tr[data-flag="theme"]').waitFor();
    assert.equal(await page.locator('tr[data-flag="old-banner"]').count(), 0);

    await page.getByLabel('Search').pressSequentially('night');
    await page.locator('tr[data-flag="refunds"]').waitFor({ state: 'detached' });
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-flag'))), ['theme']);
    await page.waitForURL(/q=night/);
    await page.getByLabel('Search').fill('paym');
    await page.locator('tr[data-flag="refunds"]').waitFor();
    await page.locator('tr[data-flag="theme"]').waitFor({ state: 'detached' });
    await page.getByLabel('Search').fill('');
    await page.locator('tr[data-flag="theme"]').waitFor();

    // Archived adds the archived flags to the live ones.
    await page.getByLabel('Include archived').check();
    await page.locator('tr[data-flag="old-banner"]').waitFor();
    assert.ok(await page.locator('tr[data-flag="theme"]').count());

    // Newest change first, then back to the keys.
    await page.getByRole('button', { name: /Last changed/ }).click();
    await page.locator('th[aria-sort="descending"]', { hasText: 'Last changed' }).waitFor();
    assert.equal(await rows.first().getAttribute('data-flag'), 'refunds');
    assert.match(await rows.first().locator('td.changed').innerText(), /just now|min ago/);
    await page.getByRole('button', { name: /^Flag/ }).click();
    await page.locator('th[aria-sort="ascending"]', { hasText: 'Flag' }).waitFor();
    assert.equal(await rows.first().getAttribute('data-flag'), 'dark-mode');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('500 flags load in one request for the flags, with a loading state; a double click toggles once', async () => {
    const keys = Array.from({ length: 499 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < keys.length; i += 25) {
      await Promise.all(keys.slice(i, i + 25).map((key) => server.admin.post('/flags', { key, kind: 'boolean', tags: ['bulk'] })));
    }
    const page = await signedInPage(browser, server.url);
    /** @type {string[]} */
    const calls = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/') && r.resourceType() !== 'eventsource') calls.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });
    // A slow network: the page says it is loading meanwhile.
    await page.route(/\/api\/v1\/flags\?/, async (route) => {
      await new Promise((r) => setTimeout(r, 1000));
      await route.continue();
    });
    await page.reload();
    await page.getByText('Loading flags…').waitFor();
    await page.locator('tr[data-flag="bulk-498"]').waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('tbody tr').count(), 500);
    assert.ok(calls.length <= 3, `the page made ${calls.length} API requests: ${calls.join(', ')}`);
    await page.unroute(/\/api\/v1\/flags\?/);

    calls.length = 0;
    const row = page.locator('tr[data-flag="bulk-007"]');
    await row.getByRole('switch', { name: 'bulk-007 in Staging' }).dblclick();
    await row.locator('[data-env="staging"] .switch.on').waitFor();
    assert.equal(calls.filter((c) => c.endsWith('/toggle')).length, 1);
    assert.equal((await server.admin.get('/flags/bulk-007/environments/staging')).enabled, true);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
  test('when each flag was last evaluated, and a filter for cleanup candidates', async () => {
    const own = await startServer({ PENNON_METRICS_FLUSH_INTERVAL: '1' });
    try {
      await own.admin.post('/environments', { key: 'staging', name: 'Staging' });
      await own.admin.post('/flags', { key: 'seen', kind: 'boolean' });
      await own.admin.post('/flags', { key: 'unseen', kind: 'boolean' });
      const evaluated = await fetch(`${own.url}/api/v1/evaluate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${own.admin.token}`, 'content-type': 'application/json', 'x-pennon-environment': 'staging' },
        body: JSON.stringify({ flag: 'seen', context: { key: 'user-1' } }),
      });
      assert.equal(evaluated.status, 200);
      // The server writes what it counted on its next flush (every second here).
      for (let i = 0; i < 50 && !(await own.admin.get('/flags/seen')).usage.last_seen; i += 1) await new Promise((r) => setTimeout(r, 200));
      const page = await signedInPage(browser, own.url);
      await page.locator('tr[data-flag="seen"] .last-seen time').waitFor();
      assert.equal(await page.locator('tr[data-flag="seen"] .last-seen').innerText(), 'just now');
      assert.equal(await page.locator('tr[data-flag="unseen"] .last-seen').innerText(), 'never');
      assert.equal(await page.locator('.badge.cleanup').count(), 0, 'new flags are no cleanup candidates');
      /** @type {string[]} */
      const asked = [];
      page.on('request', (r) => {
        if (r.url().includes('/api/v1/flags?')) asked.push(new URL(r.url()).searchParams.get('status') ?? '');
      });
      await page.getByLabel('Show').selectOption('unused');
      await page.getByText('No flags match.').waitFor();
      await page.waitForURL(/status=unused/);
      assert.deepEqual(asked, ['unused']);
      await page.getByLabel('Show').selectOption('');
      await page.locator('tr[data-flag="seen"]').waitFor();
      // The flag page says it too, for the environment shown.
      await page.goto(`${own.url}/#/flags/seen?env=staging`);
      await page.locator('.env-line .last-seen time').waitFor();
      assert.equal(await page.locator('.env-line .last-seen').innerText(), 'last evaluated just now · 1 in 24 h, 1 in 7 days');
      await page.goto(`${own.url}/#/flags/unseen?env=staging`);
      await page.locator('.env-line .last-seen', { hasText: 'never evaluated here' }).waitFor();
      assert.deepEqual(page.jsErrors, []);
      await page.context().close();
    } finally {
      await own.stop();
    }
  });
});
