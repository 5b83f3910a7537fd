// The flag page as a first-time user meets it: no stray text, a phone-width page that fits, a guard chart whose
// labels can be read, a role select that asks first; testing a context; a running plan and a guard that
// turned the flag off shown where they matter; structured variants; where am I (environment in the URL,
// titles, the production confirmation for every change) and promoting a config.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN, launchBrowser, signedInPage, startServer } from './harness.mjs';

describe('flag page, first use', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer({ PENNON_GUARD_INTERVAL: '1', PENNON_PLAN_TICK: '1', PENNON_METRICS_FLUSH_INTERVAL: '1' });
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/environments', { key: 'production', name: 'Production', production: true });
    await server.admin.post('/flags', { key: 'checkout', kind: 'boolean' });
    await server.admin.post('/flags', { key: 'a-flag-with-a-rather-long-key-for-a-phone', name: 'A flag whose name is longer than a phone is wide', kind: 'boolean' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** @param {import('playwright-core').Page} page */
  const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth);

  test('visible bugs: no "null", the page fits a phone, the role select asks first', async () => {
    const viewer = await server.admin.createUser('viewer');
    let page = await signedInPage(browser, server.url, viewer);
    await page.goto(`${server.url}/#/flags/checkout?env=staging`);
    const targets = page.locator('[data-section="targets"]');
    await targets.waitFor();
    assert.doesNotMatch(await targets.innerText(), /null/);
    await page.context().close();

    page = await signedInPage(browser, server.url, ADMIN, { width: 390, height: 844 });
    await page.goto(`${server.url}/#/flags/checkout?env=staging`);
    await page.locator('[data-section="prerequisites"] select').first().waitFor();
    assert.ok((await overflow(page)) <= 390, `the flag page scrolls sideways: ${await overflow(page)}px`);
    await page.context().close();

    page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/users`);
    const role = page.getByLabel(`Role of ${viewer.email}`);
    await role.focus();
    await page.keyboard.press('ArrowDown');
    const dialog = page.getByRole('dialog');
    await dialog.getByText(`Change the role of ${viewer.email}`).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await role.inputValue(), 'viewer');
    const users = (await server.admin.get('/users')).items;
    assert.equal(users.find((/** @type {any} */ u) => u.email === viewer.email).role, 'viewer');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a guard that turned the flag off: chart labels apart, a badge on Guards, a banner on Targeting', async () => {
    await server.admin.post('/flags', { key: 'payments', kind: 'boolean' });
    const config = '/flags/payments/environments/staging';
    await server.admin.post(`${config}/toggle`, { enabled: true });
    await server.admin.post('/metrics', { key: 'payment_error', kind: 'rate', direction: 'lower_is_better' });
    await server.admin.post(`${config}/guards`, { metric: 'payment_error', statistic: 'rate', direction: 'higher_is_worse', threshold: { relative: 0.1 }, window: '1h', variant: 'on' });
    // A guard counts the 10-second metric buckets from the first after its creation on.
    await new Promise((r) => setTimeout(r, 10_020 - (Date.now() % 10_000)));
    const key = (await server.admin.post('/environments/staging/keys', { kind: 'server', name: 'svc' })).key;
    const metric = (/** @type {string} */ variant, /** @type {number} */ n) => ({ flag: 'payments', variant, metric: 'payment_error', count: n, sum: n, sum_squares: n });
    /** Reports exposures and errors per arm, as an SDK does. @param {number} on @param {number} off */
    const report = async (on, off) => {
      const sent = await fetch(`${server.url}/api/v1/sdk/metrics`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          exposures: [{ flag: 'payments', variant: 'on', count: 20_000 }, { flag: 'payments', variant: 'off', count: 20_000 }],
          metrics: [metric('on', on), metric('off', off)],
        }),
      });
      assert.equal(sent.status, 202);
    };
    // Healthy first, breached a moment later: two state changes close together on the chart.
    await report(100, 100);
    for (let i = 0; i < 100; i += 1) {
      if ((await server.admin.get(`${config}/guards`)).items[0].state === 'healthy') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await report(700, 100);
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/payments/guards?env=staging`);
    await page.locator('article.guard .badge.breached').waitFor({ timeout: 20_000 });
    await page.locator('.transition.breached text').waitFor();
    await page.locator('.transition.healthy text').waitFor();
    const boxes = await page.locator('.transition text').evaluateAll((els) => els.map((e) => {
      const r = e.getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
    }));
    for (let i = 0; i < boxes.length; i += 1) {
      for (let j = i + 1; j < boxes.length; j += 1) {
        const [a, b] = [boxes[i], boxes[j]];
        const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;
        assert.ok(apart, `chart labels ${i} and ${j} overlap`);
      }
    }
    // The flag was turned off by the guard: the Guards tab carries a badge, Targeting says so at the top.
    await page.locator('.tabs [data-tab="/guards"] .badge.breached').waitFor();
    await page.locator('.tabs [data-tab=""]').click();
    await page.locator('.guard-banner', { hasText: 'A guard turned this flag off' }).waitFor();
    await page.locator('.tabs [data-tab="/guards"] .badge.breached').waitFor();
    await page.context().close();
  });

  test('test a context: value, variant and reason, with the matching rule highlighted', async () => {
    const base = '/flags/checkout/environments/staging';
    await server.admin.post(`${base}/rules`, { id: 'pro-users', conditions: [{ attribute: 'plan', operator: 'in', values: ['pro'] }], serve: { variant: 'off' } });
    await server.admin.post(`${base}/toggle`, { enabled: true });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/checkout?env=staging`);
    const tester = page.locator('[data-section="tester"]');
    await tester.getByLabel('Context key').fill('user-42');
    await tester.getByLabel('Attribute name').fill('plan');
    await tester.getByLabel('Attribute value').fill('pro');
    await tester.getByRole('button', { name: 'Evaluate' }).click();
    await tester.locator('.eval-variant', { hasText: 'off' }).waitFor();
    assert.equal(await tester.locator('.eval-value').innerText(), 'false');
    assert.match(await tester.locator('.eval-reason').innerText(), /RULE_MATCH.*pro-users/);
    await page.locator('[data-rule="pro-users"].matched').waitFor();

    await tester.getByLabel('Attribute value').fill('free');
    await tester.getByRole('button', { name: 'Evaluate' }).click();
    await tester.locator('.eval-variant', { hasText: 'on' }).waitFor();
    assert.match(await tester.locator('.eval-reason').innerText(), /FALLTHROUGH/);
    await page.locator('[data-section="default"].matched').waitFor();
    assert.equal(await page.locator('[data-rule="pro-users"].matched').count(), 0);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a running plan: Start warns when it lowers exposure, the plan says when the flag is off, Targeting warns', async () => {
    await server.admin.post('/flags', { key: 'ramp', kind: 'boolean' });
    const base = '/flags/ramp/environments/staging';
    await server.admin.put(`${base}/default`, { rollout: { variant: 'on', percent: 10 } });
    await server.admin.post(`${base}/toggle`, { enabled: true });
    await server.admin.put(`${base}/rollout-plan`, { variant: 'on', steps: [{ percent: 1, hold: '1h' }, { percent: 100 }] });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/ramp/plan?env=staging`);
    await page.getByRole('button', { name: 'Start' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('lowers the share of contexts that get on in Staging from 10% to 1%').waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('.plan-timeline[data-state="running"]').waitFor();
    await page.locator('.tabs [data-tab="/plan"] .badge.running').waitFor();
    assert.equal(await page.locator('.flag-off').count(), 0);
    await server.admin.post(`${base}/toggle`, { enabled: false });
    await page.locator('.flag-off', { hasText: 'The flag is off here' }).waitFor();

    await page.locator('.tabs [data-tab=""]').click();
    await page.locator('.plan-banner', { hasText: 'A rollout plan is running here' }).waitFor();
    const section = page.locator('[data-section="default"]');
    await section.locator('.plan-warning').waitFor();
    await section.getByRole('button', { name: 'Save default' }).click();
    await page.getByRole('dialog').getByText('its next step replaces this default').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('variants: a structured editor when creating a flag and when editing its definition', async () => {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/new`);
    await page.getByLabel('Key', { exact: true }).fill('limits');
    await page.getByLabel('Kind').selectOption('json');
    await page.getByLabel('Variant 1 key').fill('small');
    await page.getByLabel('Variant 1 value').fill('{"limit": 10}');
    await page.getByLabel('Variant 2 key').fill('big');
    await page.getByLabel('Variant 2 value').fill('{limit: 100}');
    await page.getByRole('button', { name: 'Create flag' }).click();
    await page.locator('[data-path="variants[1].value"] .field-error', { hasText: 'Variant 2: not valid JSON.' }).waitFor();
    assert.equal((await server.admin.get('/flags?q=limits')).items.length, 0);
    await page.getByLabel('Variant 2 value').fill('{"limit": 100}');
    await page.getByRole('button', { name: 'Create flag' }).click();
    await page.waitForURL(/#\/flags\/limits/);
    assert.deepEqual((await server.admin.get('/flags/limits')).variants.map((/** @type {any} */ v) => v.value), [{ limit: 10 }, { limit: 100 }]);

    await server.admin.post('/flags', { key: 'colour', kind: 'string', variants: [{ key: 'blue', value: '#00f' }, { key: 'green', value: '#0f0' }] });
    await page.goto(`${server.url}/#/flags/colour?env=staging`);
    await page.getByRole('button', { name: 'Edit definition' }).click();
    await page.getByLabel('Variant 2 value').fill('#00ff00');
    await page.getByRole('button', { name: 'Add variant' }).click();
    await page.getByLabel('Variant 3 key').fill('red');
    await page.getByLabel('Variant 3 name').fill('Red');
    await page.getByLabel('Variant 3 value').fill('#f00');
    await page.getByRole('button', { name: 'Save definition' }).click();
    await page.locator('table.variants', { hasText: 'red' }).waitFor();
    const { variants } = await server.admin.get('/flags/colour');
    assert.deepEqual(variants, [{ key: 'blue', value: '#00f' }, { key: 'green', value: '#00ff00' }, { key: 'red', name: 'Red', value: '#f00' }]);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('where am I: the environment in the URL, titles, environments in order, production asks for every change, promote', async () => {
    const page = await signedInPage(browser, server.url);
    assert.deepEqual(await page.locator('#env-select option').allInnerTexts(), ['Staging', 'Production (production)']);
    await page.goto(`${server.url}/#/flags/checkout/plan?env=production`);
    await page.locator('.tabs [aria-current="page"]', { hasText: 'Rollout plan' }).waitFor();
    assert.equal(await page.locator('#env-select').inputValue(), 'production');
    await page.waitForFunction((t) => document.title === t, 'checkout · Rollout plan · Production — Pennon');
    await page.locator('.tabs [data-tab=""]').click();
    await page.waitForURL(/#\/flags\/checkout\?env=production$/);
    await page.locator('#env-select').selectOption('staging');
    await page.waitForURL(/#\/flags\/checkout\?env=staging$/);
    await page.locator('.env-line', { hasText: 'Staging' }).waitFor();
    await page.waitForFunction((t) => document.title === t, 'checkout · Targeting · Staging — Pennon');

    // Promote staging's config (on, with its rule) to production: asked first, then a new version there.
    await page.getByLabel('Copy this config to').selectOption('production');
    await page.getByRole('button', { name: 'Copy config' }).click();
    await page.getByRole('dialog').getByText('to Production, a production environment?').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Copied to Production').waitFor();
    const prod = await server.admin.get('/flags/checkout/environments/production');
    assert.equal(prod.enabled, true);
    assert.deepEqual(prod.rules.map((/** @type {any} */ r) => r.id), ['pro-users']);

    // In production every change asks, not only the switch: here an individual target.
    await page.getByRole('link', { name: 'Open it in Production' }).click();
    await page.locator('.env-line', { hasText: 'Production' }).waitFor();
    const add = page.getByLabel('Context key to serve on');
    await add.fill('alice');
    await add.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Change checkout in Production, a production environment?').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.deepEqual((await server.admin.get('/flags/checkout/environments/production')).targets, []);
    await add.press('Enter');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-section="targets"] [data-variant="on"] li', { hasText: 'alice' }).waitFor();
    await page.goto(`${server.url}/#/flags`);
    await page.waitForURL(/#\/flags\?env=production$/);
    await page.waitForFunction((t) => document.title === t, 'Flags · Production — Pennon');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('switches and buttons wait while a change is saved: a double click sends one request', async () => {
    await server.admin.post('/flags', { key: 'twice', kind: 'boolean' });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/twice?env=staging`);
    await page.locator('[data-section="default"]').waitFor();
    /** @type {string[]} */
    const writes = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET' && r.url().includes('/api/v1/flags/twice/')) writes.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });
    await page.getByRole('switch', { name: 'twice in Staging' }).dblclick();
    await page.locator('[data-section="status"] .switch.on').waitFor();
    await page.locator('[data-section="default"]').getByRole('button', { name: 'Save default' }).dblclick();
    await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
    assert.deepEqual(writes, ['POST /api/v1/flags/twice/environments/staging/toggle', 'PUT /api/v1/flags/twice/environments/staging/default']);
    await page.context().close();
  });
  test('environments in the order an admin sets on the Environments page, not the order they were made', async () => {
    await server.admin.post('/environments', { key: 'development', name: 'Development' });
    const page = await signedInPage(browser, server.url);
    assert.deepEqual(await page.locator('#env-select option').allInnerTexts(), ['Staging', 'Production (production)', 'Development']);
    await page.goto(`${server.url}/#/environments`);
    const rows = page.locator('table.environments tbody tr');
    await rows.nth(2).waitFor();
    /** @type {string[]} */
    const writes = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET' && r.url().includes('/api/v1/environments')) writes.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });
    await page.getByRole('button', { name: 'Move Development up' }).click();
    await page.waitForFunction(() => document.querySelector('table.environments tbody tr')?.nextElementSibling?.getAttribute('data-env') === 'development');
    await page.getByRole('button', { name: 'Move Development up' }).click();
    await page.waitForFunction(() => document.querySelector('table.environments tbody tr')?.getAttribute('data-env') === 'development');
    assert.equal(await page.getByRole('button', { name: 'Move Development up' }).isDisabled(), true);
    await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-env'))), ['development', 'staging', 'production']);
    await page.waitForFunction(() => document.querySelector('#env-select option')?.textContent === 'Development');
    assert.deepEqual(await page.locator('#env-select option').allInnerTexts(), ['Development', 'Staging', 'Production (production)']);
    const listed = await server.admin.get('/environments');
    assert.deepEqual(listed.items.map((/** @type {any} */ e) => [e.key, e.position]), [['development', 0], ['staging', 1], ['production', 2]]);
    assert.ok(writes.every((w) => w.startsWith('PATCH /api/v1/environments/')), writes.join(', '));
    const audit = await server.admin.get('/audit?environment=development');
    assert.ok(audit.items.some((/** @type {any} */ a) => a.action === 'environment.update' && a.after.position === 0));
    // A reload keeps the order: it is the server's.
    await page.reload();
    await page.locator('table.environments tbody tr').first().waitFor();
    assert.equal(await rows.first().getAttribute('data-env'), 'development');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
});
