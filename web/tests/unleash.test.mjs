// A flag imported from Unleash on the flag page: its split says how it is bucketed and its rollout condition
// reads in words; saving an unrelated change, or the rule itself unchanged, keeps both as imported.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

const FIXTURE = new URL('../../crates/server/tests/fixtures/unleash_features.json', import.meta.url);
const FLAG = 'var-strategy-rollout';

describe('a flag imported from Unleash', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;
  const config = () => server.admin.get(`/flags/${FLAG}/environments/production`);

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'production', name: 'Production' });
    await server.admin.post('/import/unleash?environment=production', JSON.parse(readFileSync(FIXTURE, 'utf8')));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function open() {
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/${FLAG}?env=production`);
    await page.locator('[data-section="default"]').waitFor();
    return page;
  }

  test('shows its bucketing and rollout in words and keeps them through edits', async () => {
    const imported = (await config()).rules[0];
    assert.equal(imported.serve.split.bucketing.scheme, 'unleash');
    const page = await open();
    const rules = page.locator('[data-section="rules"]');
    await rules.getByText('userId is in the Unleash rollout of 40% (group vsr)').waitFor();
    await rules.getByText('s1 50% · s2 50%, bucketed as Unleash (stickiness userId, group vsr)').waitFor();

    const section = page.locator('[data-section="default"]');
    await section.getByLabel('Default serve: variant').selectOption('s1');
    await section.getByRole('button', { name: 'Save default' }).click();
    await section.locator('.default-now', { hasText: 's1' }).waitFor();
    let now = await config();
    assert.deepEqual(now.default, { variant: 's1' });
    assert.deepEqual(now.rules, [imported], 'the rules are as imported');
    const saved = now.version;

    await rules.getByRole('button', { name: `Edit rule ${imported.id}` }).click();
    await rules.getByText('Kept as imported').waitFor();
    await rules.getByRole('button', { name: 'Save rule' }).click();
    await rules.getByRole('button', { name: `Edit rule ${imported.id}` }).waitFor();
    await page.waitForFunction(() => !document.querySelector('[data-section="rules"] form'));
    now = await config();
    assert.ok(now.version > saved, 'the rule was saved');
    assert.deepEqual(now.rules[0].conditions, imported.conditions, 'the rollout condition survives a save');
    assert.deepEqual(now.rules[0].serve, imported.serve, 'the bucketing survives a save');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
});
