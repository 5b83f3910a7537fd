// The admin pages: segments (create, errors at the field, a refused delete), environments and their SDK keys
// (shown once, working, revoked), users and API tokens, the audit log (filters, live rows), and what a viewer sees.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN, launchBrowser, screenshot, signedInPage, startServer } from './harness.mjs';

/** GET /api/v1/sdk/snapshot with an SDK key: the status. @param {string} url @param {string} key */
async function snapshotStatus(url, key) {
  const response = await fetch(`${url}/api/v1/sdk/snapshot`, { headers: { authorization: `Bearer ${key}` } });
  await response.arrayBuffer();
  return response.status;
}

/** A link of the main navigation. @param {import('playwright-core').Page} page @param {string} name */
const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

describe('admin pages', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('create a segment with a condition; a bad regex is shown at its field', async () => {
    const page = await signedInPage(browser, server.url);
    await nav(page, 'Segments').click();
    await page.getByRole('link', { name: 'New segment' }).click();
    await page.getByLabel('Key', { exact: true }).fill('beta-users');
    await page.getByLabel('Name', { exact: true }).fill('Beta users');
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.getByLabel('Attribute of condition 1').fill('plan');
    await page.getByLabel('Operator of condition 1').selectOption('in');
    await page.getByLabel('Values of condition 1 (one per line)').fill('pro\nenterprise');
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.getByLabel('Attribute of condition 2').fill('email');
    await page.getByLabel('Operator of condition 2').selectOption('matches');
    await page.getByLabel('Values of condition 2 (one per line)').fill('(unclosed');
    await page.getByLabel('Included context keys (one per line)').fill('user-1\nuser-2');
    await page.getByRole('button', { name: 'Create segment' }).click();

    // The server's 422 names conditions[1].values[0]: the message sits at condition 2's values.
    const valuesField = page.locator('[data-path="conditions[1].values"]');
    await valuesField.locator('.field-error').getByText(/regex/).waitFor();
    assert.equal(await valuesField.locator('textarea').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('[data-path="conditions[0].values"] .field-error').isVisible(), false);
    assert.equal((await server.admin.get('/segments')).items.length, 0);

    await page.getByLabel('Values of condition 2 (one per line)').fill('@example\\.com$');
    await page.getByRole('button', { name: 'Create segment' }).click();
    await page.waitForURL(/#\/segments\/beta-users$/);
    await page.getByRole('heading', { name: 'Beta users' }).waitFor();
    const saved = await server.admin.get('/segments/beta-users');
    assert.equal(saved.name, 'Beta users');
    assert.deepEqual(saved.conditions, [
      { attribute: 'plan', operator: 'in', values: ['pro', 'enterprise'] },
      { attribute: 'email', operator: 'matches', values: ['@example\\.com$'] },
    ]);
    assert.deepEqual(saved.included, ['user-1', 'user-2']);

    // Edit it; a change made meanwhile elsewhere is a conflict that names who made it.
    await page.getByLabel('Excluded context keys (one per line)').fill('user-3');
    await server.admin.put('/segments/beta-users', { ...saved, key: undefined, version: undefined, created_at: undefined, updated_at: undefined, description: 'changed elsewhere' }, saved.version);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.conflict').getByText('user:admin@example.com').waitFor();
    assert.deepEqual((await server.admin.get('/segments/beta-users')).excluded, []);
    await page.locator('.conflict').getByRole('button', { name: 'Reload' }).click();
    // Reload fetches the segment and redraws the form: wait for the new version's text to be in it.
    await page.waitForFunction(() => /** @type {HTMLTextAreaElement | null} */ (document.querySelector('textarea[name="description"]'))?.value === 'changed elsewhere');
    await page.getByLabel('Excluded context keys (one per line)').fill('user-3');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved \(version 3\)/).waitFor();
    assert.deepEqual((await server.admin.get('/segments/beta-users')).excluded, ['user-3']);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('deleting a segment used by a rule is refused, naming the flag', async () => {
    await server.admin.post('/segments', { key: 'staff', conditions: [{ attribute: 'email', operator: 'ends_with', values: ['@corp.example'] }] });
    await server.admin.post('/flags', { key: 'staff-only', kind: 'boolean' });
    await server.admin.post('/flags/staff-only/environments/staging/rules', { id: 'staff', segments: ['staff'], serve: { variant: 'on' } });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/segments`);
    await page.getByRole('button', { name: 'Delete segment staff' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.locator('.delete-refused').getByText(/staff-only/).waitFor();
    assert.equal((await server.admin.get('/segments/staff')).key, 'staff');
    // A segment made elsewhere appears without a reload.
    await server.admin.post('/segments', { key: 'made-elsewhere', included: ['user-9'] });
    await page.locator('tr[data-segment="made-elsewhere"]').waitFor();
    await page.context().close();
  });

  test('create a production environment; a bad origin is shown at its field', async () => {
    const page = await signedInPage(browser, server.url);
    await nav(page, 'Environments').click();
    await page.locator('tr[data-env="staging"]').waitFor();
    await page.getByLabel('Key', { exact: true }).fill('production');
    await page.getByLabel('Name', { exact: true }).fill('Production');
    await page.getByLabel(/Production \(changes here/).check();
    await page.getByRole('button', { name: 'Add origin' }).click();
    await page.getByLabel('Allowed origin 1', { exact: true }).fill('https://shop.example.com');
    await page.getByRole('button', { name: 'Add origin' }).click();
    await page.getByLabel('Allowed origin 2', { exact: true }).fill('shop.example.com/path');
    await page.getByRole('button', { name: 'Create environment' }).click();
    await page.locator('[data-path="allowed_origins[1]"] .field-error').getByText(/not an origin/).waitFor();
    assert.equal(await page.locator('[data-path="allowed_origins[0]"] .field-error').isVisible(), false);

    await page.getByLabel('Allowed origin 2', { exact: true }).fill('https://admin.example.com');
    await page.getByRole('button', { name: 'Create environment' }).click();
    await page.waitForURL(/#\/environments\/production$/);
    const env = await server.admin.get('/environments/production');
    assert.equal(env.production, true);
    assert.deepEqual(env.allowed_origins, ['https://shop.example.com', 'https://admin.example.com']);
    // The list marks it.
    await nav(page, 'Environments').click();
    await page.locator('tr[data-env="production"] .badge').getByText('production').waitFor();
    await server.admin.post('/environments', { key: 'qa', name: 'QA' });
    await page.locator('tr[data-env="qa"]').waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('an SDK key: shown once, works, and stops working when revoked', async () => {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/environments/staging`);
    await page.getByLabel('Key name').fill('checkout-service');
    await page.getByLabel('Kind').selectOption('server');
    await page.getByRole('button', { name: 'Create key' }).click();
    const box = page.getByRole('region', { name: 'New secret' });
    await box.getByText('It will not be shown again.').waitFor();
    await box.getByRole('button', { name: 'Copy' }).waitFor();
    const secret = await box.getByRole('textbox').inputValue();
    assert.match(secret, /^pnn_srv_/);
    assert.equal(await snapshotStatus(server.url, secret), 200);
    const row = page.locator('tr', { hasText: 'checkout-service' });
    await row.getByText(`${secret.slice(0, 12)}…`).waitFor();

    // Away and back: the secret is gone for good.
    await nav(page, 'Flags').click();
    await page.getByRole('heading', { name: 'Flags' }).waitFor();
    await page.goBack();
    await page.getByRole('heading', { name: 'SDK keys' }).waitFor();
    await row.waitFor();
    assert.equal(await page.getByRole('region', { name: 'New secret' }).count(), 0);
    assert.equal(await page.getByText(secret).count(), 0);
    assert.equal(await page.locator(`input[value="${secret}"]`).count(), 0);

    // Revoke: a confirmation, then the key is refused.
    await row.getByRole('button', { name: 'Revoke key checkout-service' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await row.getByText(/revoked/).waitFor();
    assert.equal(await snapshotStatus(server.url, secret), 401);
    const keys = (await server.admin.get('/environments/staging/keys')).items;
    assert.ok(keys.find((/** @type {any} */ k) => k.name === 'checkout-service').revoked_at);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('rotating a key shows the new secret once; the old one keeps working through the overlap', async () => {
    const old = await server.admin.post('/environments/staging/keys', { kind: 'client', name: 'web-app' });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/environments/staging`);
    await page.getByRole('button', { name: 'Rotate key web-app' }).click();
    await page.getByRole('dialog').getByText('24 hours').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    const box = page.getByRole('region', { name: 'New secret' });
    await box.getByText('It will not be shown again.').waitFor();
    const fresh = await box.getByRole('textbox').inputValue();
    assert.match(fresh, /^pnn_cli_/);
    assert.notEqual(fresh, old.key);
    const evaluate = async (/** @type {string} */ key) => (await fetch(`${server.url}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: 'user-1' } }),
    })).status;
    assert.equal(await evaluate(fresh), 200);
    assert.equal(await evaluate(old.key), 200);
    const keys = (await server.admin.get('/environments/staging/keys')).items.filter((/** @type {any} */ k) => k.name === 'web-app');
    assert.equal(keys.length, 2);
    await page.locator('tr', { hasText: old.prefix }).getByText(/expires/).waitFor();
    await page.context().close();
  });

  test('deleting an environment that holds flag configs asks again and then forces it', async () => {
    await server.admin.post('/environments', { key: 'scratch', name: 'Scratch' });
    await server.admin.post('/flags', { key: 'scratch-flag', kind: 'boolean' });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/environments/scratch`);
    await page.getByRole('button', { name: 'Delete environment' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    // The refusal is the second question: cancelling it keeps the environment.
    const second = page.getByRole('dialog');
    await second.getByText(/every flag configuration/).waitFor();
    await second.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText(/Not deleted: .*holds \d+ flag config/).waitFor();
    assert.equal((await server.admin.get('/environments/scratch')).key, 'scratch');
    await page.getByRole('button', { name: 'Delete environment' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('dialog').getByText(/every flag configuration/).waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/#\/environments$/);
    const left = (await server.admin.get('/environments')).items.map((/** @type {any} */ e) => e.key);
    assert.ok(!left.includes('scratch'));
    await page.locator('tr[data-env="scratch"]').waitFor({ state: 'detached' });
    assert.equal(await page.locator('#env-select option[value="scratch"]').count(), 0);
    await page.context().close();
  });

  test('saving a segment keeps values that are not text', async () => {
    await server.admin.post('/segments', { key: 'adults', conditions: [{ attribute: 'age', operator: 'in', values: [30, 'thirty', true] }, { attribute: 'age', operator: 'gte', values: [18] }] });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/segments/adults`);
    await page.getByLabel('Description').fill('grown-ups');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved \(version 2\)/).waitFor();
    const saved = await server.admin.get('/segments/adults');
    assert.equal(saved.description, 'grown-ups');
    assert.deepEqual(saved.conditions.map((/** @type {any} */ c) => c.values), [[30, 'thirty', true], [18]]);
    await page.context().close();
  });

  test('create a user and an API token', async () => {
    const page = await signedInPage(browser, server.url);
    await nav(page, 'Users').click();
    await page.getByLabel('Email').fill('grace@example.com');
    await page.getByLabel('Password').fill('short');
    await page.getByLabel('Role', { exact: true }).selectOption('editor');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.locator('[data-path="password"] .field-error').getByText(/10/).waitFor();
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.locator('tr[data-user="grace@example.com"]').waitFor();
    let grace = (await server.admin.get('/users')).items.find((/** @type {any} */ u) => u.email === 'grace@example.com');
    assert.equal(grace.role, 'editor');
    // Change the role, then disable.
    await page.getByLabel('Role of grace@example.com').selectOption('viewer');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await assert.doesNotReject(async () => {
      for (let i = 0; i < 50; i += 1) {
        grace = (await server.admin.get('/users')).items.find((/** @type {any} */ u) => u.email === 'grace@example.com');
        if (grace.role === 'viewer') return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the role did not change');
    });
    await page.getByRole('button', { name: 'Disable grace@example.com' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('button', { name: 'Enable grace@example.com' }).waitFor();
    grace = (await server.admin.get('/users')).items.find((/** @type {any} */ u) => u.email === 'grace@example.com');
    assert.equal(grace.disabled, true);

    await nav(page, 'API tokens').click();
    await page.getByLabel('Token name').fill('deploy-pipeline');
    await page.getByLabel('Role', { exact: true }).selectOption('editor');
    await page.getByRole('button', { name: 'Create token' }).click();
    const box = page.getByRole('region', { name: 'New secret' });
    await box.getByText('It will not be shown again.').waitFor();
    const token = await box.getByRole('textbox').inputValue();
    assert.match(token, /^pnn_api_/);
    const me = await (await fetch(`${server.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } })).json();
    assert.deepEqual([me.kind, me.name, me.role], ['token', 'deploy-pipeline', 'editor']);
    const row = page.locator('tr', { hasText: 'deploy-pipeline' });
    await row.getByRole('button', { name: 'Revoke token deploy-pipeline' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await row.getByText(/revoked/).waitFor();
    assert.equal((await fetch(`${server.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status, 401);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('the audit log filters by flag and shows a new change live', async () => {
    await server.admin.post('/flags', { key: 'audited', kind: 'boolean' });
    await server.admin.post('/flags', { key: 'other-flag', kind: 'boolean' });
    const page = await signedInPage(browser, server.url);
    await nav(page, 'Audit log').click();
    await page.locator('tr.audit-row', { hasText: 'other-flag' }).first().waitFor();
    await page.getByLabel('Flag', { exact: true }).fill('audited');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/#\/audit\?flag=audited$/);
    await page.locator('tr.audit-row', { hasText: 'other-flag' }).first().waitFor({ state: 'detached' });
    const rows = page.locator('tr.audit-row');
    await rows.first().waitFor();
    for (const target of await page.locator('tr.audit-row td.target').allTextContents()) assert.match(target, /audited/);
    const before = await rows.count();

    // A change to another flag does not show; one to this flag appears at the top without a reload.
    const config = await server.admin.get('/flags/audited/environments/staging');
    await server.admin.post('/flags/other-flag/environments/staging/toggle', { enabled: true }, 1);
    await server.admin.post('/flags/audited/environments/staging/toggle', { enabled: true }, config.version);
    const top = rows.first();
    await top.locator('td.action').getByText('config.toggle').waitFor();
    assert.match(await top.locator('td.target').textContent() ?? '', /audited\/staging/);
    assert.equal(await top.locator('td.version').textContent(), String(config.version + 1));
    assert.equal(await rows.count(), before + 1);
    assert.equal(await page.locator('tr.audit-row', { hasText: 'other-flag' }).count(), 0);

    // Expanding shows what changed.
    await top.getByRole('button', { name: /Details of entry/ }).click();
    const detail = page.locator('tr.audit-detail:not([hidden])').first();
    await detail.getByText('Changed:').waitFor();
    await detail.locator('code', { hasText: 'enabled' }).waitFor();
    await screenshot(page, 'audit-log');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('"Older" pages back through the log', async () => {
    for (let i = 0; i < 60; i += 1) await server.admin.post('/flags', { key: `bulk-${i}`, kind: 'boolean' });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/audit`);
    const rows = page.locator('tr.audit-row');
    await rows.nth(49).waitFor();
    assert.equal(await rows.count(), 50);
    const total = (await server.admin.get('/audit?limit=500')).items.length;
    assert.ok(total > 50);
    await page.getByRole('button', { name: 'Older' }).click();
    await rows.nth(Math.min(total, 100) - 1).waitFor();
    const ids = (await rows.evaluateAll((els) => els.map((e) => Number(/** @type {HTMLElement} */ (e).dataset.id))));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first, no repeats');
    assert.equal(new Set(ids).size, ids.length);
    await page.context().close();
  });

  test('a viewer sees these pages without edit controls, and no Users or API tokens', async () => {
    const viewer = await server.admin.createUser('viewer');
    const page = await signedInPage(browser, server.url, viewer);
    assert.equal(await nav(page, 'Users').count(), 0);
    assert.equal(await nav(page, 'API tokens').count(), 0);

    await nav(page, 'Segments').click();
    await page.locator('tr[data-segment="beta-users"]').waitFor();
    assert.equal(await page.getByRole('link', { name: 'New segment' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /Delete/ }).count(), 0);
    await page.getByRole('link', { name: 'Beta users' }).click();
    await page.getByLabel('Attribute of condition 1').waitFor();
    assert.equal(await page.getByLabel('Attribute of condition 1').isDisabled(), true);
    assert.equal(await page.getByRole('button').filter({ hasText: /Save|Delete|Add condition|Remove/ }).count(), 0);

    await nav(page, 'Environments').click();
    await page.locator('tr[data-env="production"]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create environment' }).count(), 0);
    await page.getByRole('link', { name: 'Staging' }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    assert.equal(await page.getByLabel('Name').isDisabled(), true);
    assert.equal(await page.getByRole('heading', { name: 'SDK keys' }).count(), 0);
    assert.equal(await page.getByRole('button').filter({ hasText: /Save|Delete|Create key|Add origin/ }).count(), 0);

    await nav(page, 'Audit log').click();
    await page.locator('tr.audit-row').first().waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a page still loading when the next one opens does not draw over it', async () => {
    const page = await signedInPage(browser, server.url);
    // The segment's answer comes late (the server answers; the browser holds the answer back a while).
    let release = () => {};
    const held = new Promise((resolve) => { release = resolve; });
    await page.route('**/api/v1/segments/held-back', async (route) => {
      const response = await route.fetch();
      await held;
      await route.fulfill({ response });
    });
    await server.admin.post('/segments', { key: 'held-back', name: 'Held back', conditions: [] });
    await page.goto(`${server.url}/#/segments/held-back`);
    await page.goto(`${server.url}/#/environments/staging`);
    await page.getByLabel('Key name').waitFor();
    release();
    await page.waitForTimeout(500);
    assert.equal(await page.locator('main h1').textContent(), 'Staging');
    assert.equal(await page.getByLabel('Key name').count(), 1);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('usable at phone width', async () => {
    const page = await signedInPage(browser, server.url, ADMIN, { width: 390, height: 844 });
    for (const path of ['/segments/beta-users', '/environments/staging', '/users', '/tokens', '/audit']) {
      await page.goto(`${server.url}/#${path}`);
      await page.locator('main h1').waitFor();
      if (path === '/environments/staging') {
        // With a new secret on show, too.
        await page.getByLabel('Key name').fill('phone');
        await page.getByRole('button', { name: 'Create key' }).click();
        await page.getByRole('region', { name: 'New secret' }).waitFor();
      }
      await page.waitForTimeout(200);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      const wide = width > 390 ? await page.evaluate(() => [...document.querySelectorAll('main *')]
        .filter((e) => e.getBoundingClientRect().right > 390).slice(0, 5).map((e) => `${e.tagName}.${e.className}`)) : [];
      assert.ok(width <= 390, `${path} scrolls sideways: ${width}px (${wide.join(', ')})`);
    }
    await page.context().close();
  });
});
