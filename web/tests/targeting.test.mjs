// The flag page's Targeting tab: rollout percentages, rules with conditions and segments, validation errors at
// their field, reordering, individual targets, prerequisites, version conflicts, the production confirmation,
// and a viewer's read-only page. Every write is checked on the server too.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, screenshot, signedInPage, startServer } from './harness.mjs';

describe('flag targeting', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;
  const config = (/** @type {string} */ flag, env = 'staging') => server.admin.get(`/flags/${flag}/environments/${env}`);

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/environments', { key: 'production', name: 'Production', production: true });
    await server.admin.post('/flags', { key: 'checkout', name: 'New checkout', kind: 'boolean', tags: ['payments'] });
    await server.admin.post('/flags', { key: 'payments-v2', kind: 'boolean' });
    await server.admin.post('/flags', {
      key: 'colour', kind: 'string',
      variants: [{ key: 'red', value: 'red' }, { key: 'green', value: 'green' }, { key: 'blue', value: 'blue', name: 'Blue' }],
    });
    await server.admin.post('/segments', { key: 'internal-staff', name: 'Internal staff', included: ['alice'] });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** @param {string} flag @param {string} [env] @param {any} [user] @param {any} [viewport] */
  async function open(flag, env = 'staging', user = undefined, viewport = undefined) {
    const page = await signedInPage(browser, server.url, user, viewport);
    await page.goto(`${server.url}/#/flags/${flag}?env=${env}`);
    await page.locator('[data-section="default"]').waitFor();
    return page;
  }

  test('a 25% rollout on a boolean flag is stored as an on/off split', async () => {
    const page = await open('checkout');
    const section = page.locator('[data-section="default"]');
    await section.getByLabel('A percentage rollout').check();
    await section.getByLabel('Percentage served on').fill('25');
    await section.getByText('on 25% · off 75%').waitFor();
    await section.getByRole('button', { name: 'Save default' }).click();
    await section.locator('.default-now', { hasText: 'on 25% · off 75%' }).waitFor();
    const { default: serve } = await config('checkout');
    assert.deepEqual(serve.split.weights, [{ variant: 'on', weight: 25000 }, { variant: 'off', weight: 75000 }]);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('a multi-variant split shows its total as it is typed and must add up to 100', async () => {
    const page = await open('colour');
    const section = page.locator('[data-section="default"]');
    await section.getByLabel('A percentage split').check();
    await section.getByLabel('red %').fill('50');
    await section.getByLabel('green %').fill('30');
    await section.getByText('Total: 80% (must be 100%)').waitFor();
    await section.getByRole('button', { name: 'Save default' }).click();
    await section.locator('[data-path="default.split.weights"] .field-error', { hasText: 'add up to 80%' }).waitFor();
    assert.deepEqual((await config('colour')).default, { variant: 'red' });
    await section.getByLabel('blue %').fill('20');
    await section.getByText('Total: 100%').waitFor();
    await section.getByRole('button', { name: 'Save default' }).click();
    await section.locator('.default-now', { hasText: 'red 50% · green 30% · blue 20%' }).waitFor();
    const { default: serve } = await config('colour');
    assert.deepEqual(serve.split.weights, [
      { variant: 'red', weight: 50000 }, { variant: 'green', weight: 30000 }, { variant: 'blue', weight: 20000 }]);
    await page.context().close();
  });

  test('a rule with two conditions and a segment is stored', async () => {
    const page = await open('checkout');
    const rules = page.locator('[data-section="rules"]');
    await rules.getByRole('button', { name: 'Add rule' }).click();
    const form = rules.locator('form.rule-form');
    await form.getByLabel('Rule id').fill('beta-testers');
    await form.getByLabel('Description').fill('paying customers on recent apps');
    await form.getByRole('button', { name: 'Add condition' }).click();
    await form.getByRole('button', { name: 'Add condition' }).click();
    const first = form.locator('[data-path="rules[0].conditions[0]"]');
    await first.getByLabel('Attribute').fill('plan');
    await first.getByLabel('Operator').selectOption({ label: 'is one of' });
    await first.getByLabel('Values').fill('pro\nenterprise');
    const second = form.locator('[data-path="rules[0].conditions[1]"]');
    await second.getByLabel('Attribute').fill('app_version');
    await second.getByLabel('Operator').selectOption('semver_gte');
    await second.getByLabel('Values').fill('2.3.0');
    await second.getByLabel('Negate').check();
    await form.getByLabel('Internal staff (internal-staff)').check();
    await form.getByLabel('A variant').check();
    await form.getByLabel('Serve: variant').selectOption('on');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await rules.locator('li.rule[data-rule="beta-testers"]').waitFor();
    const { rules: stored } = await config('checkout');
    assert.equal(stored.length, 1);
    assert.equal(stored[0].id, 'beta-testers');
    assert.equal(stored[0].description, 'paying customers on recent apps');
    assert.deepEqual(stored[0].conditions, [
      { attribute: 'plan', operator: 'in', values: ['pro', 'enterprise'] },
      { attribute: 'app_version', operator: 'semver_gte', values: ['2.3.0'], negate: true },
    ]);
    assert.deepEqual(stored[0].segments, ['internal-staff']);
    assert.deepEqual(stored[0].serve, { variant: 'on' });
    await rules.getByText('not: app_version version at least (semver) 2.3.0').waitFor();
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('an invalid regex is shown at its condition and nothing is stored', async () => {
    const page = await open('checkout');
    const rules = page.locator('[data-section="rules"]');
    await rules.getByRole('button', { name: 'Add rule' }).click();
    const form = rules.locator('form.rule-form');
    await form.getByLabel('Rule id').fill('emails');
    await form.getByRole('button', { name: 'Add condition' }).click();
    const condition = form.locator('[data-path="rules[1].conditions[0]"]');
    await condition.getByLabel('Attribute').fill('email');
    await condition.getByLabel('Operator').selectOption('matches');
    await condition.getByLabel('Values').fill('([a-z]+@example');
    await form.getByRole('button', { name: 'Add rule' }).click();
    const error = condition.locator('[data-path="rules[1].conditions[0].values"] .field-error');
    await error.waitFor();
    assert.match(await error.innerText(), /regex/);
    assert.equal(await condition.getByLabel('Values').getAttribute('aria-invalid'), 'true');
    assert.deepEqual((await config('checkout')).rules.map((/** @type {any} */ r) => r.id), ['beta-testers']);
    // Fixed, it saves.
    await condition.getByLabel('Values').fill('@example\\.com$');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await rules.locator('li.rule[data-rule="emails"]').waitFor();
    assert.deepEqual((await config('checkout')).rules[1].conditions[0].values, ['@example\\.com$']);
    await page.context().close();
  });

  test('rules move up and down', async () => {
    const page = await open('checkout');
    const rules = page.locator('[data-section="rules"]');
    await rules.getByRole('button', { name: 'Move rule beta-testers down' }).click();
    await rules.locator('li.rule').first().and(page.locator('[data-rule="emails"]')).waitFor();
    assert.deepEqual((await config('checkout')).rules.map((/** @type {any} */ r) => r.id), ['emails', 'beta-testers']);
    // Focus stays with the moved rule (on Up, now that it is last), so the keyboard can carry on.
    const focused = await page.evaluate(() => [document.activeElement?.closest('[data-rule]')?.getAttribute('data-rule'), document.activeElement?.getAttribute('data-move')]);
    assert.deepEqual(focused, ['beta-testers', 'up']);
    await page.keyboard.press('Enter');
    await rules.locator('li.rule').first().and(page.locator('[data-rule="beta-testers"]')).waitFor();
    assert.deepEqual((await config('checkout')).rules.map((/** @type {any} */ r) => r.id), ['beta-testers', 'emails']);
    await page.context().close();
  });

  test('individual targets: add and remove context keys', async () => {
    const page = await open('checkout');
    const on = page.locator('[data-section="targets"] [data-variant="on"]');
    await on.getByLabel('Context key to serve on').fill('user-1, user-2');
    await on.getByRole('button', { name: 'Add' }).click();
    await on.getByText('user-2').waitFor();
    assert.deepEqual((await config('checkout')).targets, [{ variant: 'on', keys: ['user-1', 'user-2'] }]);
    // A key already targeted at another variant is refused at that variant's field.
    const off = page.locator('[data-section="targets"] [data-variant="off"]');
    await off.getByLabel('Context key to serve off').fill('user-1');
    await off.getByRole('button', { name: 'Add' }).click();
    await off.locator('.field-error', { hasText: 'targeted twice' }).waitFor();
    await on.getByRole('button', { name: 'Remove user-1 from on' }).click();
    await on.getByText('user-1').waitFor({ state: 'detached' });
    assert.deepEqual((await config('checkout')).targets, [{ variant: 'on', keys: ['user-2'] }]);
    await page.context().close();
  });

  test('prerequisites: pick a flag and the variant it must serve', async () => {
    const page = await open('checkout');
    const section = page.locator('[data-section="prerequisites"]');
    await section.getByLabel('Flag').selectOption('payments-v2');
    await section.getByLabel('Must serve').selectOption('on');
    await section.getByRole('button', { name: 'Add prerequisite' }).click();
    await section.locator('[data-prerequisite="payments-v2"]').waitFor();
    assert.deepEqual((await config('checkout')).prerequisites, [{ flag: 'payments-v2', variant: 'on' }]);
    // A cycle is refused at the flag field.
    const other = await open('payments-v2');
    const otherSection = other.locator('[data-section="prerequisites"]');
    await otherSection.getByLabel('Flag').selectOption('checkout');
    await otherSection.getByRole('button', { name: 'Add prerequisite' }).click();
    await otherSection.locator('[data-path="prerequisites[0].flag"] .field-error', { hasText: 'cycle' }).waitFor();
    assert.deepEqual((await config('payments-v2')).prerequisites, []);
    await other.context().close();
    await section.getByRole('button', { name: 'Remove prerequisite payments-v2' }).click();
    await section.getByText('None.').waitFor();
    assert.deepEqual((await config('checkout')).prerequisites, []);
    await page.context().close();
  });

  test('a stale edit shows who changed the flag, and Reload brings the current version', async () => {
    const page = await open('checkout');
    const rules = page.locator('[data-section="rules"]');
    await rules.getByRole('button', { name: 'Edit rule beta-testers' }).click();
    const form = rules.locator('form.rule-form');
    await form.getByLabel('Description').fill('edited in the browser');
    // Meanwhile, automation changes the config.
    const before = await config('checkout');
    await server.admin.post('/flags/checkout/environments/staging/toggle', { enabled: true }, before.version);
    // The open form is kept; the page says the flag changed.
    await page.locator('.stale', { hasText: 'This flag changed' }).waitFor();
    assert.equal(await form.getByLabel('Description').inputValue(), 'edited in the browser');
    await form.getByRole('button', { name: 'Save rule' }).click();
    const conflict = form.locator('.conflict');
    await conflict.waitFor();
    assert.match(await conflict.innerText(), /admin@example\.com/);
    assert.equal((await config('checkout')).rules[0].description, 'paying customers on recent apps');
    await conflict.getByRole('button', { name: 'Reload' }).click();
    await form.waitFor({ state: 'detached' });
    await page.locator('[data-section="status"] .switch.on').waitFor();
    await page.locator('.stale').waitFor({ state: 'detached' });
    await page.locator('[data-section="status"]').getByText(/last changed by .*admin@example\.com/).waitFor();
    await page.context().close();
  });

  test('a change made elsewhere appears without a reload', async () => {
    const page = await open('checkout');
    const before = await config('checkout');
    await server.admin.put('/flags/checkout/environments/staging/default', { rollout: { variant: 'on', percent: 40 } }, before.version);
    await page.locator('[data-section="default"] .default-now', { hasText: 'on 40% · off 60%' }).waitFor();
    await page.context().close();
  });

  test('turning the flag on in production asks first', async () => {
    const page = await open('checkout', 'production');
    const toggle = page.getByRole('switch', { name: 'checkout in Production' });
    await toggle.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('a production environment').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await config('checkout', 'production')).enabled, false);
    await toggle.click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-section="status"] .switch.on').waitFor();
    assert.equal((await config('checkout', 'production')).enabled, true);
    // The off variant is chosen from the flag's variants.
    const { version } = await config('checkout', 'production');
    await page.getByLabel('When off, serve').selectOption('on');
    // Every change in production asks, not only the switch.
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-section="status"]').getByText(`Version ${version + 1},`).waitFor();
    assert.equal((await config('checkout', 'production')).off_variant, 'on');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('the page with rules and a split', async () => {
    const page = await open('checkout');
    await page.locator('li.rule').nth(1).waitFor();
    await screenshot(page, 'flag-targeting');
    await page.context().close();
  });

  test('a viewer sees the page with no edit controls', async () => {
    const viewer = await server.admin.createUser('viewer');
    const page = await open('checkout', 'staging', viewer);
    await page.locator('li.rule[data-rule="beta-testers"]').waitFor();
    await page.getByText('user-2').waitFor();
    // Testing a context changes nothing, so a viewer has that panel; nothing else takes input.
    const view = page.locator('#view');
    const outside = ':not([data-section="tester"] *)';
    assert.equal(await view.locator(`form${outside}`).count(), 0);
    assert.equal(await view.locator(`button:not([disabled])${outside}`).count(), 0);
    assert.equal(await view.locator(`input:not([disabled])${outside}, select:not([disabled])${outside}, textarea${outside}`).count(), 0);
    assert.equal(await page.getByRole('switch', { name: 'checkout in Staging' }).isDisabled(), true);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test('usable at phone width', async () => {
    const page = await open('checkout', 'staging', undefined, { width: 390, height: 844 });
    await page.locator('[data-section="rules"]').getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('button', { name: 'Add condition' }).click();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page scrolls sideways: ${width}px`);
    await page.context().close();
  });

  test('the definition: edit name and tags, archive, unarchive, and delete an archived flag', async () => {
    const page = await open('colour');
    const section = page.locator('[data-section="definition"]');
    await section.getByRole('cell', { name: 'Blue', exact: true }).waitFor();
    await section.getByRole('button', { name: 'Edit definition' }).click();
    await section.getByLabel('Name', { exact: true }).fill('Button colour');
    await section.getByLabel('Tags (comma-separated)').fill(`ui, ${'x'.repeat(129)}`);
    await section.getByRole('button', { name: 'Save definition' }).click();
    await section.locator('[data-path="tags"] .field-error', { hasText: '1 to 128' }).waitFor();
    assert.equal((await server.admin.get('/flags/colour')).name, 'colour');
    await section.getByLabel('Tags (comma-separated)').fill('ui, experiments');
    await section.getByRole('button', { name: 'Save definition' }).click();
    await page.getByRole('heading', { name: /Button colour/ }).waitFor();
    const flag = await server.admin.get('/flags/colour');
    assert.equal(flag.name, 'Button colour');
    assert.deepEqual(flag.tags, ['ui', 'experiments']);

    await section.getByRole('button', { name: 'Archive' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('This flag is archived').waitFor();
    assert.equal((await server.admin.get('/flags/colour')).archived, true);
    assert.equal(await page.locator('[data-section="rules"]').getByRole('button').count(), 0);
    await section.getByRole('button', { name: 'Unarchive' }).click();
    await page.getByText('This flag is archived').waitFor({ state: 'detached' });
    assert.equal((await server.admin.get('/flags/colour')).archived, false);

    await section.getByRole('button', { name: 'Archive' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await section.getByRole('button', { name: 'Delete flag' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/#\/flags(\?env=[a-z]+)?$/);
    await assert.rejects(server.admin.get('/flags/colour'), /404/);
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
});
