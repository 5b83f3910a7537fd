// The flags list: sign in, create a flag, toggle it (production asks first), see API changes live, and a
// viewer sees no edit controls.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN, launchBrowser, screenshot, signedInPage, startServer } from './harness.mjs';

describe('flags list', () => {
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

  test('a wrong password is refused and the right one signs in', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(server.url);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Wrong email or password.').waitFor();
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Flags' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Pennon' }).waitFor();
    // The session is gone on the server too: a reload shows the sign-in form again.
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to Pennon' }).waitFor();
    await page.context().close();
  });

  test('create a flag, then toggle it: production asks for confirmation first', async () => {
    const page = await signedInPage(browser, server.url);
    await page.getByRole('link', { name: 'New flag' }).click();
    await page.getByLabel('Key').fill('Bad Key');
    await page.getByRole('button', { name: 'Create flag' }).click();
    // The API's 400/422 lands at the key field, and nothing is created.
    await page.locator('[data-path="key"] .field-error').waitFor();
    assert.equal((await server.admin.get('/flags')).items.length, 0);

    await page.getByLabel('Key').fill('new-checkout');
    await page.getByLabel('Name').fill('New checkout');
    await page.getByLabel('Tags (comma-separated)').fill('checkout, payments');
    await page.getByRole('button', { name: 'Create flag' }).click();
    await page.waitForURL(/#\/flags\/new-checkout(\?env=[a-z]+)?$/);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flags' }).click();
    const row = page.locator('tr[data-flag="new-checkout"]');
    await row.waitFor();

    // Staging: no question asked.
    await row.getByRole('switch', { name: 'new-checkout in Staging' }).click();
    await row.locator('[data-env="staging"] .switch.on').waitFor();
    assert.equal((await server.admin.get('/flags/new-checkout/environments/staging')).enabled, true);

    // Production: a confirmation; cancelling changes nothing.
    const prodSwitch = row.getByRole('switch', { name: 'new-checkout in Production' });
    await prodSwitch.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('a production environment').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await server.admin.get('/flags/new-checkout/environments/production')).enabled, false);
    await prodSwitch.click();
    await screenshot(page, 'flags-confirm-production');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await row.locator('[data-env="production"] .switch.on').waitFor();
    assert.equal((await server.admin.get('/flags/new-checkout/environments/production')).enabled, true);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a change made through the API appears without a reload', async () => {
    await server.admin.post('/flags', { key: 'live-flag', kind: 'boolean', tags: ['live'] });
    const page = await signedInPage(browser, server.url);
    const row = page.locator('tr[data-flag="live-flag"]');
    await row.locator('[data-env="staging"] .switch.off').waitFor();
    const config = await server.admin.get('/flags/live-flag/environments/staging');
    await server.admin.put('/flags/live-flag/environments/staging/default', { rollout: { variant: 'on', percent: 25 } }, config.version);
    await server.admin.post('/flags/live-flag/environments/staging/toggle', { enabled: true }, config.version + 1);
    await row.locator('[data-env="staging"] .switch.on').waitFor();
    await row.locator('[data-env="staging"]').getByText('On — serves 25% on').waitFor();
    // A flag created elsewhere shows up too.
    await server.admin.post('/flags', { key: 'another-flag', kind: 'boolean' });
    await page.locator('tr[data-flag="another-flag"]').waitFor();
    await screenshot(page, 'flags-list');
    await page.context().close();
  });

  test('search and tag filters narrow the list', async () => {
    const page = await signedInPage(browser, server.url);
    await page.locator('tr[data-flag="live-flag"]').waitFor();
    await page.getByLabel('Tag', { exact: true }).fill('live');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/tag=live/);
    await page.locator('tr[data-flag="new-checkout"]').waitFor({ state: 'detached' });
    await page.locator('tr[data-flag="live-flag"]').waitFor();
    assert.equal(await page.locator('tbody tr').count(), 1);
    await page.goto(`${server.url}/#/flags?q=checkout`);
    await page.locator('tr[data-flag="live-flag"]').waitFor({ state: 'detached' });
    await page.locator('tr[data-flag="new-checkout"]').waitFor();
    assert.equal(await page.locator('tbody tr').count(), 1);
    await page.context().close();
  });

  test('a viewer sees no edit controls', async () => {
    const viewer = await server.admin.createUser('viewer');
    const page = await signedInPage(browser, server.url, viewer);
    await page.locator('tr[data-flag="new-checkout"]').waitFor();
    assert.equal(await page.getByRole('link', { name: 'New flag' }).count(), 0);
    const switches = page.getByRole('switch');
    assert.ok((await switches.count()) > 0);
    for (const s of await switches.all()) assert.equal(await s.isDisabled(), true);
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);
    await page.context().close();
  });

  test('usable at phone width', async () => {
    const page = await signedInPage(browser, server.url, ADMIN, { width: 390, height: 844 });
    await page.locator('tr[data-flag="new-checkout"]').waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page scrolls sideways: ${width}px`);
    await page.context().close();
  });
});
