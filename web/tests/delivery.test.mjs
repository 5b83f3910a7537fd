// The flag page's delivery tabs: a rollout plan defined and started in the browser advances live and pauses;
// a guard created in the browser breaches for real on metrics an SDK key reports, raising the alert on
// another page and showing its evidence and chart; a revert from history writes the old config as a new
// version; the flags list shows plan step and guard state; a viewer sees no edit controls.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN, launchBrowser, screenshot, signedInPage, startServer } from './harness.mjs';

describe('rollout plan, guards and history', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer({ PENNON_GUARD_INTERVAL: '1', PENNON_PLAN_TICK: '1', PENNON_METRICS_FLUSH_INTERVAL: '1' });
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/environments', { key: 'production', name: 'Production', production: true });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('define a plan, start it, watch it advance live, pause and resume it', async () => {
    await server.admin.post('/flags', { key: 'ramp-me', kind: 'boolean' });
    const plan = '/flags/ramp-me/environments/staging/rollout-plan';
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/ramp-me/plan?env=staging`);
    await page.getByRole('heading', { name: 'No rollout plan' }).waitFor();

    // 10% (2 s) → 50% (2 s) → 100%, with a hold the API refuses first: the error lands at that step's hold.
    await page.getByRole('button', { name: 'Remove step 5' }).click();
    await page.getByRole('button', { name: 'Remove step 4' }).click();
    await page.getByLabel('Step 1 percent').fill('10');
    await page.getByLabel('Step 1 hold').fill('2s');
    await page.getByLabel('Step 2 percent').fill('50');
    await page.getByLabel('Step 2 hold').fill('soon');
    await page.getByLabel('Step 3 percent').fill('100');
    await page.getByLabel('Step 3 hold').fill('');
    await page.getByRole('button', { name: 'Create plan' }).click();
    const holdError = page.locator('[data-path="steps[1].hold"] .field-error');
    await holdError.waitFor();
    assert.match(await holdError.innerText(), /duration/);
    assert.equal(await page.getByLabel('Step 2 hold').getAttribute('aria-invalid'), 'true');
    await assert.rejects(server.admin.get(plan), /404/);

    await page.getByLabel('Step 2 hold').fill('2s');
    await page.getByRole('button', { name: 'Create plan' }).click();
    const timeline = page.locator('.plan-timeline');
    await page.locator('.plan-timeline[data-state="pending"]').waitFor();
    assert.equal(await timeline.locator('.step').count(), 3);
    assert.deepEqual((await server.admin.get(plan)).steps, [{ percent: 10, hold: '2s' }, { percent: 50, hold: '2s' }, { percent: 100 }]);

    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('.plan-timeline[data-state="running"] .step.current[data-step="0"]').waitFor();
    await timeline.locator('.countdown').waitFor();
    assert.equal((await server.admin.get(plan)).state, 'running');
    // The scheduler moves it on; the page follows without a reload.
    await page.locator('.step.current[data-step="1"]').waitFor({ timeout: 10_000 });
    await timeline.locator('.plan-percent', { hasText: '50%' }).waitFor();
    await screenshot(page, 'flag-plan-timeline');

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('.plan-timeline[data-state="paused"]').waitFor();
    await timeline.locator('.remaining').waitFor();
    const paused = await server.admin.get(plan);
    assert.equal(paused.state, 'paused');
    assert.equal(paused.current_step, 1);
    // Paused means held: no step passes while it waits.
    await page.waitForTimeout(2500);
    assert.equal((await server.admin.get(plan)).current_step, 1);
    assert.equal(await page.getByRole('button', { name: 'Pause' }).count(), 0);

    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('.plan-timeline[data-state="completed"]').waitFor({ timeout: 10_000 });
    const done = await server.admin.get(plan);
    assert.equal(done.state, 'completed');
    assert.deepEqual(done.history.map((/** @type {any} */ e) => e.event), ['created', 'started', 'advanced', 'paused', 'resumed', 'advanced', 'completed']);
    await page.locator('.plan-history summary').click();
    await page.locator('.plan-history li', { hasText: 'paused' }).waitFor();

    // The flags list shows where the plan stands, from one request per environment.
    await page.goto(`${server.url}/#/flags`);
    await page.locator('tr[data-flag="ramp-me"] [data-env="staging"] [data-plan="completed"]', { hasText: 'step 3/3 · 100%' }).waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a guard breached by real metrics raises the alert elsewhere and shows its evidence and chart', async () => {
    await server.admin.post('/flags', { key: 'payments', kind: 'boolean' });
    await server.admin.post('/metrics', { key: 'payment_error', kind: 'rate', direction: 'lower_is_better' });
    const config = '/flags/payments/environments/production';
    await server.admin.post(`${config}/toggle`, { enabled: true });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/payments/guards?env=production`);
    await page.getByText('No guards on payments').waitFor();

    await page.getByRole('button', { name: 'New guard' }).click();
    await page.getByLabel('Metric').selectOption('payment_error');
    await page.getByLabel('Threshold', { exact: true }).fill('0.1');
    await page.getByLabel('Window').fill('forever');
    await page.getByRole('button', { name: 'Create guard' }).click();
    // Every change in production asks first.
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-path="window"] .field-error').waitFor();
    assert.equal((await server.admin.get(`${config}/guards`)).items.length, 0);
    await page.getByLabel('Window').fill('1h');
    await page.getByRole('button', { name: 'Create guard' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    const card = page.locator('article.guard');
    await card.locator('.badge.insufficient_data').waitFor();
    const [guard] = (await server.admin.get(`${config}/guards`)).items;
    assert.deepEqual([guard.metric, guard.statistic, guard.threshold, guard.variant, guard.control, guard.action],
      ['payment_error', 'rate', { relative: 0.1 }, 'on', 'off', 'disable_flag']);

    // Watch from another page while an SDK reports 2% errors on `on` against 0.5% on `off`.
    await page.goto(`${server.url}/#/flags`);
    const row = page.locator('tr[data-flag="payments"]');
    await row.locator('[data-env="production"] [data-guards="insufficient_data"]').waitFor();
    const key = (await server.admin.post('/environments/production/keys', { kind: 'server', name: 'checkout-service' })).key;
    // A guard counts the 10-second metric buckets that start after its creation.
    await new Promise((r) => setTimeout(r, 10_020 - (Date.now() % 10_000)));
    const metric = (/** @type {string} */ variant, /** @type {number} */ n) => ({ flag: 'payments', variant, metric: 'payment_error', count: n, sum: n, sum_squares: n });
    const sent = await fetch(`${server.url}/api/v1/sdk/metrics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        exposures: [{ flag: 'payments', variant: 'on', count: 20_000 }, { flag: 'payments', variant: 'off', count: 20_000 }],
        metrics: [metric('on', 400), metric('off', 100)],
      }),
    });
    assert.equal(sent.status, 202);

    const alert = page.locator('.breach-alert');
    await alert.waitFor({ timeout: 20_000 });
    const text = await alert.innerText();
    assert.match(text, /payments in production/);
    assert.match(text, /payment_error rate 2% on on against 0\.5% on off/);
    assert.match(text, /the flag was turned off/);
    // The flag is off on the server and in the list, with its guard marked breached.
    assert.equal((await server.admin.get(config)).enabled, false);
    await row.locator('[data-env="production"] .switch.off').waitFor();
    await row.locator('[data-env="production"] [data-guards="breached"]').waitFor();

    await alert.getByRole('link', { name: 'See the evidence' }).click();
    await page.waitForURL(new RegExp(`#/flags/payments/guards\\?env=production&guard=${guard.id}$`));
    const evidence = page.locator(`#evidence-${guard.id}`);
    await evidence.waitFor();
    assert.ok(await evidence.isVisible());
    await card.locator('.badge.breached').waitFor();
    assert.equal(await evidence.locator('tr[data-arm="treatment"] td').nth(1).innerText(), '20000');
    assert.equal(await evidence.locator('tr[data-arm="treatment"] td').nth(2).innerText(), '2%');
    assert.equal(await evidence.locator('tr[data-arm="control"] td').nth(2).innerText(), '0.5%');
    const facts = await evidence.locator('.facts').innerText();
    assert.match(facts, /p-value/);
    assert.match(facts, /Alpha\s+0\.05/);
    assert.match(await evidence.locator('.breach-what').innerText(), /the flag was turned off/);
    // The chart draws both arms and the threshold, and marks the breach.
    assert.ok((await card.locator('svg.chart circle.dot.treatment').count()) >= 1);
    assert.ok((await card.locator('svg.chart circle.dot.control').count()) >= 1);
    assert.notEqual(await card.locator('svg.chart path.threshold').getAttribute('d'), '');
    await card.locator('svg.chart .transition.breached').waitFor();
    await page.locator('.breach-alert').getByRole('button', { name: 'Dismiss' }).click();
    await page.locator('.breach-alert').waitFor({ state: 'detached' });
    await screenshot(page, 'flag-guard-breach');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('restore from history: production asks, and the old config comes back as a new version', async () => {
    await server.admin.post('/flags', { key: 'banner', kind: 'boolean' });
    const config = '/flags/banner/environments/production';
    await server.admin.post(`${config}/toggle`, { enabled: true }, 1);
    await server.admin.put(`${config}/default`, { rollout: { variant: 'on', percent: 25 } }, 2);
    const original = (await server.admin.get(`${config}/history`)).items.find((/** @type {any} */ v) => v.version === 1).config;

    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/banner/history?env=production`);
    const versions = page.locator('li.version');
    await versions.first().waitFor();
    assert.deepEqual(await versions.evaluateAll((els) => els.map((el) => /** @type {HTMLElement} */ (el).dataset.version)), ['3', '2', '1']);
    const v3 = page.locator('li.version[data-version="3"]');
    // Each version in a sentence; the newest can be undone, older ones restored.
    assert.match(await v3.innerText(), /admin@example\.com changed banner in Production: default on → 25% on · 75% off\./);
    await v3.getByText('Changes in version 3').click();
    await v3.locator('.diff-summary', { hasText: 'default on → 25% on · 75% off' }).waitFor();
    assert.ok((await v3.locator('.diff-line.add').count()) > 0);
    assert.ok((await v3.locator('.diff-line.del').count()) > 0);
    assert.equal(await v3.getByRole('button', { name: /Restore/ }).count(), 0, 'the current version is restored by Undo');
    await v3.getByRole('button', { name: 'Undo version 3' }).waitFor();

    const revert = page.getByRole('button', { name: 'Restore version 1' });
    await revert.click();
    await page.getByRole('dialog').getByText('production environment').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await server.admin.get(config)).version, 3);
    await revert.click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.locator('li.version[data-version="4"]').waitFor();
    await page.getByText('Restored version 1: now version 4.').waitFor();
    const now = await server.admin.get(config);
    assert.equal(now.version, 4);
    assert.equal(now.enabled, false);
    assert.deepEqual(now.default, original.default);
    assert.match(await page.locator('li.version[data-version="4"]').innerText(), /restored an earlier version of banner in Production: turned off; default 25% on · 75% off → on/);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('edit a guard, then delete it', async () => {
    await server.admin.post('/flags', { key: 'latency-watch', kind: 'boolean' });
    await server.admin.post('/metrics', { key: 'latency_ms', kind: 'mean', direction: 'lower_is_better' });
    const guards = '/flags/latency-watch/environments/staging/guards';
    const created = await server.admin.post(guards, { metric: 'latency_ms', statistic: 'mean', direction: 'higher_is_worse', threshold: { absolute: 800 }, variant: 'on' });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/latency-watch/guards?env=staging`);
    await page.getByRole('button', { name: `Edit guard latency_ms #${created.id}` }).click();
    assert.equal(await page.getByLabel('Statistic').inputValue(), 'mean');
    assert.equal(await page.getByLabel('Threshold kind').inputValue(), 'absolute');
    await page.getByLabel('Threshold', { exact: true }).fill('650');
    await page.getByLabel('Minimum samples').fill('500');
    await page.getByLabel('Window').fill('2 weeks later');
    await page.getByRole('button', { name: 'Save guard' }).click();
    await page.locator('[data-path="window"] .field-error').waitFor();
    assert.equal((await server.admin.get(guards)).items[0].version, created.version);
    await page.getByLabel('Window').fill('30m');
    await page.getByRole('button', { name: 'Save guard' }).click();
    await page.locator('article.guard .guard-spec', { hasText: 'not higher than 650' }).waitFor();
    const [edited] = (await server.admin.get(guards)).items;
    assert.deepEqual([edited.threshold, edited.min_samples, edited.version], [{ absolute: 650 }, 500, created.version + 1]);

    await page.getByRole('button', { name: `Delete guard latency_ms #${created.id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('No guards on latency-watch').waitFor();
    assert.equal((await server.admin.get(guards)).items.length, 0);
    await page.context().close();
  });

  test('a breached guard halts a running plan, and the timeline says why', async () => {
    await server.admin.post('/flags', { key: 'search-v2', kind: 'boolean' });
    const config = '/flags/search-v2/environments/staging';
    await server.admin.post(`${config}/toggle`, { enabled: true }, 1);
    await server.admin.post('/metrics', { key: 'search_error', kind: 'rate', direction: 'lower_is_better' });
    const guard = await server.admin.post(`${config}/guards`, { metric: 'search_error', statistic: 'rate', direction: 'higher_is_worse',
      threshold: { relative: 0.1 }, variant: 'on', action: 'halt_rollout' });
    await server.admin.put(`${config}/rollout-plan`, { variant: 'on', steps: [{ percent: 10, hold: '1h' }, { percent: 100 }] });
    await server.admin.post(`${config}/rollout-plan/start`);
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/search-v2/plan?env=staging`);
    await page.locator('.plan-timeline[data-state="running"]').waitFor();

    const key = (await server.admin.post('/environments/staging/keys', { kind: 'server', name: 'search-service' })).key;
    await new Promise((r) => setTimeout(r, 10_020 - (Date.now() % 10_000)));
    const metric = (/** @type {string} */ variant, /** @type {number} */ n) => ({ flag: 'search-v2', variant, metric: 'search_error', count: n, sum: n, sum_squares: n });
    const sent = await fetch(`${server.url}/api/v1/sdk/metrics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        exposures: [{ flag: 'search-v2', variant: 'on', count: 20_000 }, { flag: 'search-v2', variant: 'off', count: 20_000 }],
        metrics: [metric('on', 400), metric('off', 100)],
      }),
    });
    assert.equal(sent.status, 202);
    const halted = page.locator('.plan-timeline[data-state="halted"]');
    await halted.waitFor({ timeout: 20_000 });
    assert.match(await halted.locator('.plan-now').innerText(), new RegExp(`Guard #${guard.id} on search_error was breached \\(p = `));
    await halted.locator('.step.stopped[data-step="0"]').waitFor();
    assert.equal((await server.admin.get(`${config}/rollout-plan`)).state, 'halted');
    // Starting again is refused while the guard is breached, and the refusal is shown.
    await page.getByRole('button', { name: 'Start again' }).click();
    await page.locator('.plan-moves .alert-danger', { hasText: 'breached' }).waitFor();
    await page.context().close();
  });

  test('a plan changed by someone else meanwhile: the save says who and offers a reload', async () => {
    await server.admin.post('/flags', { key: 'contested', kind: 'boolean' });
    const plan = '/flags/contested/environments/staging/rollout-plan';
    await server.admin.put(plan, { variant: 'on', steps: [{ percent: 20, hold: '1h' }, { percent: 100 }] });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/contested/plan?env=staging`);
    await page.getByRole('heading', { name: 'Replace the plan' }).waitFor();
    await page.getByLabel('Step 1 percent').fill('30');
    await server.admin.put(plan, { variant: 'on', steps: [{ percent: 40, hold: '1h' }, { percent: 100 }] });
    await page.getByRole('button', { name: 'Save plan' }).click();
    const conflict = page.locator('.plan-form .conflict');
    await conflict.waitFor();
    assert.match(await conflict.innerText(), /changed meanwhile.*plan version 2/);
    assert.equal((await server.admin.get(plan)).steps[0].percent, 40);
    await conflict.getByRole('button', { name: 'Reload' }).click();
    await conflict.waitFor({ state: 'detached' });
    assert.equal(await page.getByLabel('Step 1 percent').inputValue(), '40');
    await page.context().close();
  });

  test('history pages through many versions and diffs across a page boundary', async () => {
    await server.admin.post('/flags', { key: 'chatty', kind: 'boolean' });
    const config = '/flags/chatty/environments/staging';
    for (let v = 1; v <= 24; v += 1) await server.admin.post(`${config}/toggle`, { enabled: v % 2 === 1 }, v);
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/chatty/history?env=staging`);
    await page.locator('li.version[data-version="25"]').waitFor();
    assert.equal(await page.locator('li.version').count(), 20);
    await page.getByRole('button', { name: 'Older versions' }).waitFor();
    // The oldest version shown compares with one on the next page, which is loaded for it, below.
    const v6 = page.locator('li.version[data-version="6"]');
    await v6.getByText('Changes in version 6').click();
    await v6.locator('.diff-summary', { hasText: 'turned on' }).waitFor();
    assert.equal(await v6.locator('details').getAttribute('open'), '');
    await page.locator('li.version[data-version="1"]').waitFor();
    assert.equal(await page.locator('li.version').count(), 25);
    await page.getByText('That is every version.').waitFor();
    // Opening a diff in view needs no more loading.
    const v25 = page.locator('li.version[data-version="25"]');
    await v25.getByText('Changes in version 25').click();
    await v25.locator('.diff-summary', { hasText: 'turned off' }).waitFor();
    await page.context().close();
  });

  test('a viewer sees the tabs without edit controls', async () => {
    const viewer = await server.admin.createUser('viewer');
    const page = await signedInPage(browser, server.url, viewer);
    await page.goto(`${server.url}/#/flags/ramp-me/plan?env=staging`);
    await page.locator('.plan-timeline[data-state="completed"]').waitFor();
    assert.equal(await page.locator('.plan-moves button, form').count(), 0);
    await page.goto(`${server.url}/#/flags/payments/guards?env=production`);
    await page.locator('article.guard').waitFor();
    assert.equal(await page.getByRole('button', { name: /New guard|Edit|Delete/ }).count(), 0);
    await page.goto(`${server.url}/#/flags/banner/history?env=production`);
    await page.locator('li.version').first().waitFor();
    assert.equal(await page.getByRole('button', { name: /Restore|Undo/ }).count(), 0);
    // A flag that does not exist says so.
    await page.goto(`${server.url}/#/flags/no-such-flag/guards`);
    await page.getByText('Could not load the flag').waitFor();
    await page.context().close();
  });

  test('the three tabs fit a phone-width window', async () => {
    const page = await signedInPage(browser, server.url, ADMIN, { width: 390, height: 844 });
    const fits = async (/** @type {string} */ where) => {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${where} scrolls sideways: ${width}px`);
    };
    await page.goto(`${server.url}/#/flags/payments/guards?env=production`);
    await page.locator('article.guard svg.chart').waitFor();
    await fits('the guards tab');
    await page.getByRole('button', { name: 'New guard' }).click();
    await fits('the guard form');
    await page.goto(`${server.url}/#/flags/contested/plan?env=staging`);
    await page.locator('.plan-timeline').waitFor();
    await fits('the plan tab');
    await page.goto(`${server.url}/#/flags/banner/history?env=production`);
    await page.locator('li.version[data-version="4"]').getByText('Changes in version 4').click();
    await page.locator('li.version[data-version="4"] .diff-lines').waitFor();
    await fits('the history tab');
    await page.context().close();
  });
});
