// The flag page's Triggers tab: an editor creates a trigger URL (shown once, with a copy button), a POST to it
// turns the flag off and the list says when, revoking it makes the URL answer 404; a viewer sees the list only.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

describe('triggers tab', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;
  const config = '/flags/checkout/environments/production';

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'production', name: 'Production', production: true });
    await server.admin.post('/flags', { key: 'checkout', kind: 'boolean' });
    await server.admin.post(`${config}/toggle`, { enabled: true });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('create shows the URL once, a POST turns the flag off, revoke ends the URL', async () => {
    const page = await signedInPage(browser, server.url);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    await page.goto(`${server.url}/#/flags/checkout?env=production`);
    await page.locator('.tabs [data-tab="/triggers"]').click();
    await page.getByText('No triggers on checkout in this environment.').waitFor();

    await page.getByLabel('Trigger name').fill('checkout-errors');
    await page.getByLabel('A POST does').selectOption('off');
    await page.getByLabel('An Alertmanager "resolved" does').selectOption('on');
    await page.getByRole('button', { name: 'Create trigger' }).click();
    const shown = page.getByRole('region', { name: 'New secret' });
    await shown.getByText('It will not be shown again.').waitFor();
    const url = await shown.locator('input').inputValue();
    assert.match(url, new RegExp(`^${server.url}/api/v1/triggers/pnn_trg_[0-9a-f]{64}$`));
    await shown.getByRole('button', { name: 'Copy' }).click();
    await shown.getByText('Copied.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);

    const row = page.locator('tr[data-trigger]', { hasText: 'checkout-errors' });
    await row.getByText('turn off').waitFor();
    assert.match(await row.innerText(), /turn it on/);
    assert.doesNotMatch(await row.innerText(), new RegExp(url.split('/').pop() ?? 'none'), 'the list never shows the secret');
    await row.getByText('never').waitFor();

    const fired = await fetch(url, { method: 'POST' });
    assert.equal(fired.status, 200);
    assert.equal((await fired.json()).result, 'turned_off');
    assert.equal((await server.admin.get(config)).enabled, false);
    // The audit row of the change reaches the open page, which reloads the list.
    await row.locator('td').nth(4).getByText('never').waitFor({ state: 'detached' });

    await shown.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Revoke trigger checkout-errors' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('No triggers on checkout in this environment.').waitFor();
    assert.equal((await fetch(url, { method: 'POST' })).status, 404);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a viewer sees the triggers but no form and no revoke', async () => {
    await server.admin.post(`${config}/triggers`, { action: 'off', name: 'pager' });
    const viewer = await server.admin.createUser('viewer');
    const page = await signedInPage(browser, server.url, viewer);
    await page.goto(`${server.url}/#/flags/checkout/triggers?env=production`);
    await page.locator('tr[data-trigger]', { hasText: 'pager' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create trigger' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /Revoke/ }).count(), 0);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
});
