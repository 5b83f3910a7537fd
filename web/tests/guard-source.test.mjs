// The guard form's source: an editor picks Prometheus, the form shows the PromQL templates of the guard's
// statistic (events and requests for a rate, sum, count and sum of squares for a mean), the API's problems
// land at the template and URL fields, the guard is saved with its source, and its card shows the error of a
// Prometheus the server cannot reach.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {net.AddressInfo} */ (server.address());
  await new Promise((resolve) => server.close(() => resolve(undefined)));
  return port;
}

describe('guard source', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;
  const config = '/flags/checkout/environments/staging';

  before(async () => {
    server = await startServer({ PENNON_GUARD_INTERVAL: '1', PENNON_PROMETHEUS_TIMEOUT: '1' });
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/flags', { key: 'checkout', kind: 'boolean' });
    await server.admin.post('/metrics', { key: 'checkout_error', kind: 'rate', direction: 'lower_is_better' });
    await server.admin.post('/metrics', { key: 'latency_ms', kind: 'mean', direction: 'lower_is_better' });
    await server.admin.post(`${config}/toggle`, { enabled: true });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the form offers Prometheus with the templates of the statistic, and the card shows the source error', async () => {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/checkout/guards?env=staging`);
    await page.getByText('No guards on checkout').waitFor();
    await page.getByRole('button', { name: 'New guard' }).click();
    await page.getByLabel('Metric').selectOption('checkout_error');
    assert.equal(await page.getByLabel('Events query').isVisible(), false, 'SDK metrics need no queries');

    await page.getByLabel('Source').selectOption('prometheus');
    await page.getByLabel('Events query').waitFor();
    assert.equal(await page.getByLabel('Requests query').isVisible(), true);
    assert.equal(await page.getByLabel('Sum query').isVisible(), false, 'a rate guard needs no sum');
    await page.getByLabel('Metric').selectOption('latency_ms');
    await page.getByLabel('Sum of squares query').waitFor();
    assert.equal(await page.getByLabel('Events query').isVisible(), false, 'a mean guard needs no events');
    await page.getByLabel('Metric').selectOption('checkout_error');

    // The server has no --prometheus-url, and the events query cannot tell the variants apart.
    await page.getByLabel('Events query').fill('sum(increase(errors_total[{{range}}]))');
    await page.getByLabel('Requests query').fill('sum(increase(requests_total{variant="{{variant}}"}[{{range}}]))');
    await page.getByRole('button', { name: 'Create guard' }).click();
    await page.locator('[data-path="source.events"] .field-error').getByText('{{variant}}').waitFor();
    await page.locator('[data-path="source.url"] .field-error').waitFor();
    assert.equal((await server.admin.get(`${config}/guards`)).items.length, 0);

    const url = `http://127.0.0.1:${await closedPort()}`;
    await page.getByLabel('Prometheus URL').fill(url);
    await page.getByLabel('Events query').fill('sum(increase(errors_total{variant="{{variant}}"}[{{range}}]))');
    await page.getByRole('button', { name: 'Create guard' }).click();
    const card = page.locator('article.guard');
    await card.waitFor();
    const [guard] = (await server.admin.get(`${config}/guards`)).items;
    assert.deepEqual(guard.source, {
      kind: 'prometheus', url,
      events: 'sum(increase(errors_total{variant="{{variant}}"}[{{range}}]))',
      requests: 'sum(increase(requests_total{variant="{{variant}}"}[{{range}}]))',
    });
    await card.getByText(`from Prometheus (${url})`).waitFor();
    // The guard loop cannot connect: the card says so (the page refreshes every few seconds).
    await card.locator('.source-error').getByText('could not connect').waitFor({ timeout: 20_000 });
    await card.locator('.badge.insufficient_data').waitFor();
  });
});
