// The Webhooks page: creating a hook (its secret shown once), a refused URL shown at its field, a test event
// and a change arriving signed at a real receiver, the delivery log, disabling and deleting.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

/** A receiver on 127.0.0.1 that records every request and answers 200. */
async function startReceiver() {
  /** @type {{headers: import('node:http').IncomingHttpHeaders, body: string}[]} */
  const received = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}/hook`,
    received,
    /** Waits for a request whose JSON body satisfies `match`. @param {(body: any) => boolean} match */
    async waitFor(match) {
      for (let i = 0; i < 500; i++) {
        const found = received.find((r) => match(JSON.parse(r.body)));
        if (found) return found;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`not received; got ${JSON.stringify(received.map((r) => r.body))}`);
    },
    close: () => new Promise((r) => server.close(() => r(undefined))),
  };
}

/** A link of the main navigation. @param {import('playwright-core').Page} page @param {string} name */
const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

describe('webhooks page', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;
  /** @type {Awaited<ReturnType<typeof startReceiver>>} */
  let receiver;

  before(async () => {
    receiver = await startReceiver();
    server = await startServer({ PENNON_WEBHOOK_TICK: '0.05' });
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'production', name: 'Production' });
    await server.admin.post('/flags', { key: 'checkout-v2', kind: 'boolean' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await receiver?.close();
  });

  test('create a hook, send a test event, see a signed change arrive and the delivery log', async () => {
    const page = await signedInPage(browser, server.url);
    await nav(page, 'Webhooks').click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();

    // A URL the server refuses: the message sits at the URL field, nothing is created.
    await page.getByLabel('URL').fill('ftp://example.com/hook');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.locator('[data-path="url"] .field-error').getByText(/http/).waitFor();
    assert.equal((await server.admin.get('/webhooks')).items.length, 0);

    await page.getByLabel('URL').fill(receiver.url);
    await page.getByLabel('Actions').fill('config.toggle, webhook.test');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const box = page.getByRole('region', { name: 'New secret' });
    await box.getByText('It will not be shown again.').waitFor();
    const secret = await box.getByRole('textbox').inputValue();
    assert.match(secret, /^pnn_whs_/);
    const [hook] = (await server.admin.get('/webhooks')).items;
    assert.deepEqual(hook.actions, ['config.toggle', 'webhook.test']);
    const row = page.locator(`tr[data-webhook="${hook.id}"]`);
    await row.getByText('actions: config.toggle, webhook.test').waitFor();

    await row.getByRole('button', { name: `Send a test event to webhook ${hook.id}` }).click();
    const test = await receiver.waitFor((b) => b.action === 'webhook.test');
    const signature = (/** @type {{headers: any, body: string}} */ r) =>
      `sha256=${createHmac('sha256', secret).update(`${r.headers['pennon-timestamp']}.${r.body}`).digest('hex')}`;
    assert.equal(test.headers['pennon-signature'], signature(test));

    await server.admin.post('/flags/checkout-v2/environments/production/toggle', { enabled: true });
    const change = await receiver.waitFor((b) => b.action === 'config.toggle');
    assert.equal(change.headers['pennon-signature'], signature(change));
    assert.equal(JSON.parse(change.body).summary, 'admin@example.com turned checkout-v2 on in production');

    await row.getByRole('button', { name: `Deliveries of webhook ${hook.id}` }).click();
    const log = page.getByRole('region', { name: 'Delivery log' });
    await log.locator('tr.delivery-row', { hasText: 'config.toggle' }).getByText('delivered').waitFor();
    await log.locator('tr.delivery-row', { hasText: 'webhook.test' }).getByText('delivered').waitFor();

    await row.getByRole('button', { name: `Disable webhook ${hook.id}` }).click();
    await row.getByText('disabled').waitFor();
    assert.equal((await server.admin.get(`/webhooks/${hook.id}`)).enabled, false);

    await row.getByRole('button', { name: `Delete webhook ${hook.id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('No webhooks yet.').waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a viewer has no Webhooks link', async () => {
    const viewer = await server.admin.createUser('viewer');
    const page = await signedInPage(browser, server.url, viewer);
    assert.equal(await nav(page, 'Webhooks').count(), 0);
    await page.context().close();
  });
});
