// Scheduled changes on the flag page: an editor schedules turning the flag on, sees it pending and cancels
// another; the scheduled one applies at its time and the switch shows it. Viewers see the list without the
// form. Leaves a screenshot in docs/screenshots/.

import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

const DOCS = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');

/** A datetime-local value `ms` from now, in the browser's (and this process's) local time. @param {number} ms */
function localIn(ms) {
  const d = new Date(Date.now() + ms);
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

describe('scheduled changes', () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    server = await startServer({ PENNON_PLAN_TICK: '0.2' });
    browser = await launchBrowser();
    await server.admin.post('/environments', { key: 'staging', name: 'Staging' });
    await server.admin.post('/flags', { key: 'checkout', kind: 'boolean' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('schedule, list, cancel, and the change applies at its time', async () => {
    const base = '/flags/checkout/environments/staging/scheduled-changes';
    await server.admin.post(base, { at: new Date(Date.now() + 3_600_000).toISOString(), change: { kind: 'toggle', enabled: false }, comment: 'after the sale' });
    const page = await signedInPage(browser, server.url);
    await page.goto(`${server.url}/#/flags/checkout?env=staging`);
    const section = page.locator('[data-section="scheduled"]');
    await section.locator('.scheduled-item', { hasText: 'Turn off' }).waitFor();

    // A time in the past is refused, named at the field.
    await section.getByLabel('When', { exact: true }).fill(localIn(-3_600_000));
    await section.getByRole('button', { name: 'Schedule' }).click();
    await section.locator('[data-path="at"] .field-error').waitFor();
    assert.match(await section.locator('[data-path="at"] .field-error').innerText(), /future/);

    await section.getByLabel('Change', { exact: true }).selectOption('on');
    await section.getByLabel('When', { exact: true }).fill(localIn(4_000));
    await section.getByLabel('Comment', { exact: true }).fill('launch');
    await section.getByRole('button', { name: 'Schedule' }).click();
    await section.locator('.scheduled-item', { hasText: 'Turn on' }).waitFor();
    assert.equal(await section.locator('.scheduled-item').count(), 2);
    await page.screenshot({ path: join(DOCS, 'scheduled-changes.png'), fullPage: true });

    await section.getByRole('button', { name: /^Cancel: Turn off/ }).click();
    await section.locator('.scheduled-item', { hasText: 'Turn off' }).waitFor({ state: 'detached' });
    const cancelled = await server.admin.get(`${base}?state=cancelled`);
    assert.equal(cancelled.items.length, 1);

    // At its time the leader applies it; the page's live update shows the flag on.
    await page.locator('[data-section="status"] .switch[aria-checked="true"]').waitFor({ timeout: 20_000 });
    const applied = await server.admin.get(`${base}?state=applied`);
    assert.equal(applied.items.length, 1);
    assert.equal(applied.items[0].comment, 'launch');
    await page.close();
  });
});
