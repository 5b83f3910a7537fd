// The Results tab: an experiment's readout from metrics posted through the SDK metrics endpoint — the
// sample-ratio banner first, one row per metric with each variant's value, the difference to control with its
// interval drawn as a bar around a zero line, and that interval over time, which a guard links to. Leaves a
// screenshot in docs/screenshots/.

import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

const DOCS = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');

describe('results tab', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer({ PENNON_METRICS_FLUSH_INTERVAL: '1' });
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'production', name: 'Production' });
    const split = { split: { bucket_by: 'key', weights: [{ variant: 'on', weight: 50_000 }, { variant: 'off', weight: 50_000 }] } };
    for (const key of ['checkout', 'banner']) {
      await server.admin.post('/flags', { key, kind: 'boolean' });
      await server.admin.put(`/flags/${key}/environments/production`, { enabled: true, off_variant: 'off', default: split });
    }
    await server.admin.post('/metrics', { key: 'conversion', kind: 'rate', direction: 'higher_is_better', description: 'Orders per visit' });
    await server.admin.post('/metrics', { key: 'order_value', kind: 'mean', unit: 'EUR', direction: 'higher_is_better' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the sample-ratio check first, then each metric with its interval around zero', async () => {
    const key = (await server.admin.post('/environments/production/keys', { kind: 'server', name: 'shop' })).key;
    // A period counts the 10-second buckets that start after its weights were set.
    await new Promise((r) => setTimeout(r, 10_020 - (Date.now() % 10_000)));
    /** @param {string} flag @param {string} variant @param {string} metric @param {number} count @param {number} sum @param {number} squares */
    const m = (flag, variant, metric, count, sum, squares) => ({ flag, variant, metric, count, sum, sum_squares: squares });
    const sent = await fetch(`${server.url}/api/v1/sdk/metrics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        exposures: [
          { flag: 'checkout', variant: 'on', count: 10_000 }, { flag: 'checkout', variant: 'off', count: 10_000 },
          { flag: 'banner', variant: 'on', count: 52_000 }, { flag: 'banner', variant: 'off', count: 48_000 },
        ],
        metrics: [
          m('checkout', 'on', 'conversion', 150, 150, 150), m('checkout', 'off', 'conversion', 100, 100, 100),
          // 150 orders of 40 EUR on average (sd 10) against 100 of 38 EUR.
          m('checkout', 'on', 'order_value', 150, 6_000, 150 * (1_600 + 100)), m('checkout', 'off', 'order_value', 100, 3_800, 100 * (1_444 + 100)),
        ],
      }),
    });
    assert.equal(sent.status, 202);
    const results = '/flags/checkout/environments/production/results';
    for (let i = 0; i < 100; i += 1) {
      if ((await server.admin.get(results)).variants[0].exposures === 10_000) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/checkout/results?env=production`);
    await page.locator('[data-srm="ok"]').waitFor();
    assert.equal(await page.locator('.tabs [aria-current="page"]').innerText(), 'Results');
    const conversion = page.locator('tr[data-metric="conversion"]');
    assert.match(await conversion.locator('div[data-variant="off"]').innerText(), /off: 1\.00%/);
    assert.match(await conversion.locator('div[data-variant="on"]').innerText(), /on: 1\.50%/);
    assert.match(await conversion.locator('[data-lift="on"]').innerText(), /on vs off: \+0\.50 pp \(\+50\.0%\) \[\+0\.02 pp, \+0\.98 pp\] better/);
    const bar = conversion.locator('rect.interval.better[data-variant="on"]');
    await bar.waitFor();
    // The interval lies right of the zero line: the treatment converts better.
    const zero = Number(await conversion.locator('line.zero-line').getAttribute('x1'));
    assert.ok(Number(await bar.getAttribute('x')) > zero);
    assert.match(await page.locator('tr[data-metric="order_value"]').innerText(), /EUR/);
    await page.screenshot({ path: join(DOCS, 'results-tab.png'), fullPage: true });

    // A broken assignment: the banner says so, first.
    await page.goto(`${server.url}/#/flags/banner/results?env=production`);
    const alarm = page.locator('[data-srm="mismatch"]');
    await alarm.waitFor();
    assert.match(await alarm.innerText(), /Sample ratio mismatch/);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test("a metric's interval over time, opened from its row and from a guard", async () => {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/checkout/results?env=production`);
    const toggle = page.getByRole('button', { name: 'conversion over time' });
    await toggle.click();
    const chart = page.locator('tr[data-timeline="conversion"] figure.interval-chart');
    await chart.waitFor();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    // The one compared variant (its data are in one step: a bar, not a band); it ends where the readout's
    // interval is, right of zero.
    assert.equal(await chart.locator('g.variant[data-variant="on"]').count(), 1);
    await chart.screenshot({ path: join(DOCS, 'results-over-time.png') });
    assert.match(await chart.locator('svg').getAttribute('aria-label') ?? '', /Latest: on \+0\.50 pp \[\+0\.02 pp, \+0\.98 pp\]/);
    await toggle.click();
    assert.equal(await page.locator('tr[data-timeline="conversion"]').isHidden(), true);

    await server.admin.post('/flags/checkout/environments/production/guards', {
      metric: 'conversion', variant: 'on', control: 'off', statistic: 'rate', direction: 'lower_is_worse', threshold: { relative: 0.5 },
    });
    await page.goto(`${server.url}/#/flags/checkout/guards?env=production`);
    await page.locator('a.results-link').click();
    await page.waitForURL(/\/results\?env=production&metric=conversion/);
    await chart.waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('the metrics page lists and creates metrics, and the guard form picks from them', async () => {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/metrics`);
    await page.locator('tr[data-metric="conversion"]').waitFor();
    assert.match(await page.locator('tr[data-metric="order_value"]').innerText(), /mean \(average value\)\s+EUR\s+higher/);
    await page.getByLabel('Metric key').fill('latency_ms');
    await page.getByLabel('Kind').selectOption('mean');
    await page.getByLabel('Unit').fill('ms');
    await page.getByRole('button', { name: 'Create metric' }).click();
    await page.locator('tr[data-metric="latency_ms"]').waitFor();
    const created = await server.admin.get('/metrics/latency_ms');
    assert.deepEqual([created.kind, created.unit, created.direction], ['mean', 'ms', 'lower_is_better']);

    await page.goto(`${server.url}/#/flags/checkout/guards?env=production`);
    await page.getByRole('button', { name: 'New guard' }).click();
    // A picker of the known metrics, not free text.
    const options = page.locator('.guard-form select[name="metric"] option:not([disabled])');
    await options.nth(2).waitFor({ state: 'attached' });
    assert.deepEqual(await options.evaluateAll((els) => els.map((o) => /** @type {HTMLOptionElement} */ (o).value)), ['conversion', 'latency_ms', 'order_value']);
    await page.getByLabel('Metric').selectOption('latency_ms');
    assert.equal(await page.getByLabel('Statistic').inputValue(), 'mean', "the metric's kind");
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
});
