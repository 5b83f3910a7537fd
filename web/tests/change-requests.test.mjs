// Change requests in the dashboard: an admin makes an environment require an approval; there an editor's
// toggle is proposed (the page says so, the config stays), its author cannot approve it, a second editor's
// approval applies it and the author's flag page shows it; a rejected request never applies; a request whose
// config moved on (an admin's change with a bypass reason) is stale and its author rebases it. Leaves a
// screenshot of a request page in docs/screenshots/.

import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Api, launchBrowser, signedInPage, startServer } from './harness.mjs';

const DOCS = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const CONFIG = '/flags/checkout/environments/staging';

describe('change requests', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;
  const ann = { email: 'ann@example.com', password: 'a long editor password', role: 'editor' };
  const bob = { email: 'bob@example.com', password: 'another long editor password', role: 'editor' };
  /** @type {Api} */
  let annApi;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/flags', { key: 'checkout', kind: 'boolean' });
    for (const user of [ann, bob]) await server.admin.post('/users', user);
    annApi = await Api.signIn(server.url, ann.email, ann.password);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** The change requests of the flag in staging, newest first. @param {string} [state] */
  const requests = async (state) => (await server.admin.get(`/change-requests?flag=checkout&environment=staging${state ? `&state=${state}` : ''}`)).items;

  test('an admin sets the approvals an environment requires, and the list shows them', async () => {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/environments/staging`);
    const approvals = page.getByLabel('Approvals required');
    await approvals.fill('11');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    // Above the server's limit (10 by default): refused at the field, nothing saved.
    await page.locator('[data-path="approvals_required"] .field-error').waitFor();
    assert.match(await page.locator('[data-path="approvals_required"] .field-error').innerText(), /0 to 10/);
    assert.equal((await server.admin.get('/environments/staging')).approvals_required, 0);

    await approvals.fill('1');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved.').waitFor();
    assert.equal((await server.admin.get('/environments/staging')).approvals_required, 1);
    await page.goto(`${server.url}/#/environments`);
    assert.equal(await page.locator('tr[data-env="staging"] .approvals').innerText(), '1 required');
    assert.deepEqual(page.jsErrors, []);
    await page.close();
  });

  test('an editor\'s toggle is proposed; the author cannot approve; another editor\'s approval applies it', async () => {
    const page = await signedInPage(browser, server.url, ann);
    await page.goto(`${server.url}/#/flags/checkout?env=staging`);
    const card = page.locator('[data-section="approvals"]');
    await card.getByText('requires 1 approval').waitFor();
    // An editor gets no bypass.
    assert.equal(await card.getByLabel('Bypass reason (admins)').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Propose change' }).count(), 1);
    await card.getByLabel('Comment for the approvers').fill('launch day');
    await page.locator('[data-section="status"] .switch').click();

    const notice = page.locator('.proposed');
    await notice.waitFor();
    const [request] = await requests('pending');
    assert.match(await notice.innerText(), new RegExp(`Change request #${request.id} waits for 1 approval\\.`));
    // Not an error, and the config shown is still the current one.
    assert.equal(await page.locator('[role="alert"]').count(), 0);
    assert.equal(await page.locator('[data-section="status"] .switch').getAttribute('aria-checked'), 'false');
    assert.equal((await server.admin.get(CONFIG)).enabled, false);
    assert.equal(request.comment, 'launch day');
    // The flag page lists it as open.
    await page.locator('.open-requests', { hasText: `#${request.id}` }).waitFor();

    // Its page: the diff, the comment, and no approval for the author.
    await notice.getByRole('link').click();
    await page.getByRole('heading', { name: `Change request #${request.id}` }).waitFor();
    assert.equal(await page.locator('.request-diff tr[data-field="enabled"] .before').innerText(), 'off');
    assert.equal(await page.locator('.request-diff tr[data-field="enabled"] .after').innerText(), 'on');
    assert.equal(await page.locator('.comment').innerText(), 'launch day');
    const approve = page.getByRole('button', { name: 'Approve' });
    assert.equal(await approve.isDisabled(), true);
    assert.match(await page.locator('#approve-why').innerText(), /someone else must approve/);
    assert.equal(await page.getByRole('button', { name: 'Reject' }).count(), 0);

    // The change requests page lists it with its approvals so far.
    await page.getByRole('link', { name: 'Change requests', exact: true }).first().click();
    const row = page.locator(`tr[data-request="${request.id}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.approvals').innerText(), '0 / 1');
    assert.match(await row.innerText(), /checkout\s+Staging\s+ann@example\.com/);

    // The author's flag page stays open while a second editor approves.
    await page.goto(`${server.url}/#/flags/checkout?env=staging`);
    await page.locator('.open-requests').waitFor();
    const other = await signedInPage(browser, server.url, bob);
    await other.goto(`${server.url}/#/change-requests/${request.id}`);
    await other.getByRole('button', { name: 'Approve' }).click();
    await other.getByText('Approved and applied').waitFor();
    assert.equal(await other.locator('h1 .request-state').innerText(), 'applied');
    assert.match(await other.locator('.decided').innerText(), /bob@example\.com/);

    await page.locator('[data-section="status"] .switch[aria-checked="true"]').waitFor();
    await page.locator('.open-requests').waitFor({ state: 'detached' });
    assert.equal((await server.admin.get(CONFIG)).enabled, true);

    // The list: gone from the open ones, found among the applied ones.
    await other.goto(`${server.url}/#/change-requests`);
    await other.getByText('No change request waits.').waitFor();
    await other.getByLabel('State').selectOption('applied');
    await other.locator(`tr[data-request="${request.id}"][data-state="applied"]`).waitFor();
    assert.equal(await other.locator(`tr[data-request="${request.id}"] .approvals`).innerText(), '1 / 1');
    assert.deepEqual(page.jsErrors, []);
    assert.deepEqual(other.jsErrors, []);
    await other.close();
    await page.close();
  });

  test('a rejected request never applies', async () => {
    const proposed = await annApi.post(`${CONFIG}/toggle`, { enabled: false });
    assert.equal(proposed.state, 'pending');
    const page = await signedInPage(browser, server.url, bob);
    await page.goto(`${server.url}/#/change-requests/${proposed.id}`);
    // A rejection needs its reason, named at the field.
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.locator('[data-path="comment"] .field-error').waitFor();
    await page.getByLabel('Reason for rejecting').fill('not during the sale');
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.getByText('Rejected: it will not be applied.').waitFor();
    assert.equal(await page.locator('h1 .request-state').innerText(), 'rejected');
    assert.equal(await page.locator('.reason').innerText(), 'not during the sale');
    assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);

    const [rejected] = await requests('rejected');
    assert.equal(rejected.id, proposed.id);
    await assert.rejects(server.admin.post(`/change-requests/${proposed.id}/approve`), /409/);
    assert.equal((await server.admin.get(CONFIG)).enabled, true);
    assert.deepEqual(page.jsErrors, []);
    await page.close();
  });

  test('an admin\'s bypass applies at once; the request it overtook is stale and its author rebases it', async () => {
    const proposed = await annApi.post(`${CONFIG}/toggle`, { enabled: false });
    const admin = await signedInPage(browser, server.url);
    await admin.goto(`${server.url}/#/flags/checkout?env=staging`);
    const card = admin.locator('[data-section="approvals"]');
    await card.getByLabel('Bypass reason (admins)').fill('hotfix for a customer');
    const target = admin.locator('.target[data-variant="on"]');
    await target.getByLabel('Context key to serve on').fill('user-1');
    await target.getByRole('button', { name: 'Propose' }).click();
    await target.getByText('user-1').waitFor();
    assert.equal(await admin.locator('.proposed').count(), 0);
    assert.deepEqual((await server.admin.get(CONFIG)).targets, [{ variant: 'on', keys: ['user-1'] }]);
    const audit = await server.admin.get('/audit?flag=checkout&environment=staging&limit=1');
    assert.equal(audit.items[0].detail.approval_bypass.reason, 'hotfix for a customer');

    // Another editor cannot approve it now.
    const other = await signedInPage(browser, server.url, bob);
    await other.goto(`${server.url}/#/change-requests/${proposed.id}`);
    await other.locator('h1 .request-state[data-state="stale"]').waitFor();
    assert.equal(await other.getByRole('button', { name: 'Approve' }).isDisabled(), true);
    assert.equal(await other.getByRole('button', { name: 'Rebase onto the current config' }).count(), 0);

    // Its author sees what changed meanwhile and rebases it; it waits for approval again, then applies.
    const page = await signedInPage(browser, server.url, ann);
    await page.goto(`${server.url}/#/change-requests/${proposed.id}`);
    const stale = page.locator('.stale-request');
    await stale.waitFor();
    assert.match(await stale.locator('.diff-lines').innerText(), /user-1/);
    await stale.getByRole('button', { name: 'Rebase onto the current config' }).click();
    await page.getByText('Rebased onto version').waitFor();
    assert.equal(await page.locator('h1 .request-state').innerText(), 'pending');

    // The approver's page follows the rebase by itself.
    await other.locator('.request-actions button.primary:not([disabled])').waitFor();
    await other.getByRole('button', { name: 'Approve' }).click();
    await other.getByText('Approved and applied').waitFor();
    const config = await server.admin.get(CONFIG);
    assert.equal(config.enabled, false);
    assert.deepEqual(config.targets, [{ variant: 'on', keys: ['user-1'] }]);
    for (const p of [admin, other, page]) {
      assert.deepEqual(p.jsErrors, []);
      await p.close();
    }
  });

  test('undoing a version and promoting into the environment are proposed too', async () => {
    await server.admin.post('/environments', { key: 'development', name: 'Development' });
    const before = await server.admin.get(CONFIG);
    const page = await signedInPage(browser, server.url, ann);
    await page.goto(`${server.url}/#/flags/checkout/history?env=staging`);
    await page.getByRole('button', { name: `Undo version ${before.version}` }).click();
    const undone = page.locator('.proposed');
    await undone.waitFor();
    assert.match(await undone.innerText(), /Change request #\d+ waits for 1 approval\./);
    assert.equal((await server.admin.get(CONFIG)).version, before.version);

    await page.goto(`${server.url}/#/flags/checkout?env=development`);
    const promote = page.locator('[data-section="promote"]');
    await promote.getByLabel('Copy this config to').selectOption('staging');
    await promote.getByRole('button', { name: 'Copy config' }).click();
    await page.locator('dialog [data-confirm]').click();
    await promote.locator('.proposed').waitFor();
    assert.equal((await server.admin.get(CONFIG)).version, before.version);
    const open = await requests('pending');
    assert.deepEqual(open.slice(0, 2).map((r) => r.action), ['config.promote', 'config.revert']);
    assert.deepEqual(page.jsErrors, []);
    await page.close();
  });

  test('a request page shows its diff (screenshot)', async () => {
    // Proposed through the API with the author's comment (the X-Pennon-Comment header).
    const answer = await fetch(`${server.url}/api/v1${CONFIG}/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${annApi.token}`, 'content-type': 'application/json', 'x-pennon-comment': 'beta for paying customers first' },
      body: JSON.stringify({
        id: 'beta-testers', description: 'paying customers on recent apps',
        conditions: [{ attribute: 'plan', operator: 'in', values: ['pro', 'enterprise'] }],
        serve: { variant: 'on' },
      }),
    });
    assert.equal(answer.status, 202);
    const proposed = await answer.json();
    assert.equal(proposed.state, 'pending');
    const page = await signedInPage(browser, server.url, bob, { width: 1280, height: 900 });
    await page.goto(`${server.url}/#/change-requests/${proposed.id}`);
    await page.locator('.request-diff tr[data-field="rules"]').waitFor();
    await page.locator('.version-diff summary', { hasText: 'changed lines' }).click();
    await page.locator('.diff-line.add').first().waitFor();
    assert.match(await page.locator('.diff-summary').innerText(), /rule beta-testers added/);
    assert.equal(await page.locator('.request-diff tr[data-field="rules"] .said').innerText(), 'rule beta-testers added');
    assert.equal(await page.locator('.comment').innerText(), 'beta for paying customers first');
    await page.screenshot({ path: join(DOCS, 'change-request.png'), fullPage: true });

    // At phone width nothing scrolls sideways: the request, the list, the flag page with its approval card.
    await page.setViewportSize({ width: 390, height: 844 });
    /** @type {string[]} */
    const wide = [];
    for (const path of [`/change-requests/${proposed.id}`, '/change-requests', '/flags/checkout?env=staging']) {
      await page.goto(`${server.url}/#${path}`);
      await page.locator('#view h1').first().waitFor();
      await page.waitForFunction(() => !document.querySelector('#view .loading, #view [aria-busy="true"]'));
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      if (width > 390) wide.push(`${path}: ${width}px`);
    }
    assert.deepEqual(wide, []);
    await page.locator('[data-section="approvals"]').waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.close();
  });
});
