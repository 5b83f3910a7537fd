// The relay keys section of an environment's page: an admin creates a relay key naming two environments (the
// secret shown once), rotates it (a new secret; the old one expiring) and revokes it, and the API agrees.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

describe('relay keys', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/environments', { key: 'edge', name: 'Edge' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** The relay keys named `name`, from the API. @param {string} name */
  const relayKeys = async (name) => (await server.admin.get('/relay-keys')).items.filter((/** @type {any} */ k) => k.name === name);

  test('created naming two environments, shown once, rotated, then revoked', async () => {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/environments/staging`);
    const section = page.getByRole('region', { name: 'Relay keys' });
    await section.getByText('No relay keys yet.').waitFor();

    // Create: the page's environment is ticked already; tick the other one too.
    const form = section.getByRole('form', { name: 'New relay key' });
    assert.equal(await form.getByRole('checkbox', { name: 'staging', exact: true }).isChecked(), true);
    assert.equal(await form.getByRole('checkbox', { name: 'edge', exact: true }).isChecked(), false);
    await form.getByLabel('Name of the relay key').fill('edge-relay');
    await form.getByRole('checkbox', { name: 'edge', exact: true }).check();
    await form.getByRole('button', { name: 'Create relay key' }).click();
    const box = page.getByRole('region', { name: 'New secret' });
    await box.getByText('It will not be shown again.').waitFor();
    const secret = await box.getByRole('textbox', { name: 'Relay key "edge-relay": secret' }).inputValue();
    assert.match(secret, /^pnn_rly_/);
    const [created] = await relayKeys('edge-relay');
    assert.deepEqual(created.environments, ['edge', 'staging']);
    assert.ok(secret.startsWith(created.prefix));
    const first = section.locator(`tr[data-relay-key="${created.id}"]`);
    await first.getByText(`${created.prefix}…`).waitFor();
    assert.equal(await first.locator('td').first().textContent(), 'edge, staging');
    assert.equal(await first.locator('.badge').textContent(), 'active');

    // Rotate: a confirmation, a new secret shown once, and the old key expiring.
    await first.getByRole('button', { name: 'Rotate relay key edge-relay' }).click();
    await page.getByRole('dialog').getByText('24 hours').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await first.getByText(/^expires /).waitFor();
    const fresh = await box.getByRole('textbox').inputValue();
    assert.match(fresh, /^pnn_rly_/);
    assert.notEqual(fresh, secret);
    const afterRotation = await relayKeys('edge-relay');
    assert.equal(afterRotation.length, 2);
    const rotated = afterRotation.find((/** @type {any} */ k) => k.id !== created.id);
    assert.ok(fresh.startsWith(rotated.prefix));
    assert.deepEqual(rotated.environments, ['edge', 'staging']);
    assert.equal(rotated.expires_at, undefined);
    assert.ok(afterRotation.find((/** @type {any} */ k) => k.id === created.id).expires_at);
    const second = section.locator(`tr[data-relay-key="${rotated.id}"]`);
    assert.equal(await second.locator('td').first().textContent(), 'edge, staging');
    assert.equal(await second.locator('.badge').textContent(), 'active');

    // Revoke the new one: a confirmation naming relays, then it is marked revoked and has no more actions.
    await second.getByRole('button', { name: 'Revoke relay key edge-relay' }).click();
    await page.getByRole('dialog').getByText('Relays using it are refused at once.').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await second.getByText(/^revoked /).waitFor();
    assert.equal(await second.getByRole('button').count(), 0);
    const afterRevoke = await relayKeys('edge-relay');
    assert.ok(afterRevoke.find((/** @type {any} */ k) => k.id === rotated.id).revoked_at);
    const old = afterRevoke.find((/** @type {any} */ k) => k.id === created.id);
    assert.equal(old.revoked_at, undefined);
    assert.ok(old.expires_at);
    await first.getByText(/^expires /).waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
});
