// Makes the screenshots in docs/screenshots/ (the flags list, a flag page testing a context, a running
// rollout plan): `cargo build -p pennon-server && node web/tests/screenshots.mjs`. Not a test, so the test
// run leaves docs/ alone; run it again when the dashboard's looks change.

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, signedInPage, startServer } from './harness.mjs';

const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');

const server = await startServer({ PENNON_PLAN_TICK: '1' });
const browser = await launchBrowser();
try {
  const api = server.admin;
  for (const [key, name, production] of [['development', 'Development', false], ['staging', 'Staging', false], ['production', 'Production', true]]) {
    await api.post('/environments', { key, name, production });
  }
  const flags = [
    { key: 'new-checkout', name: 'New checkout', tags: ['checkout', 'payments'], description: 'The one-page checkout.' },
    { key: 'dark-mode', name: 'Dark mode', tags: ['ui'] },
    { key: 'search-v2', name: 'Search v2', tags: ['search'] },
    { key: 'payments-v2', name: 'Payments v2', tags: ['payments'] },
    { key: 'onboarding-tour', name: 'Onboarding tour', tags: ['growth'] },
  ];
  for (const f of flags) await api.post('/flags', { ...f, kind: 'boolean' });
  await api.post('/flags', { key: 'banner-colour', name: 'Banner colour', kind: 'string', tags: ['ui'],
    variants: [{ key: 'blue', value: '#2b59c3' }, { key: 'orange', value: '#e4572e' }] });
  const on = (/** @type {string} */ flag, /** @type {string} */ env) => api.post(`/flags/${flag}/environments/${env}/toggle`, { enabled: true });
  for (const env of ['development', 'staging']) for (const f of ['new-checkout', 'dark-mode', 'search-v2']) await on(f, env);
  await on('dark-mode', 'production');
  await api.put('/flags/search-v2/environments/production/default', { rollout: { variant: 'on', percent: 25 } });
  const checkout = '/flags/new-checkout/environments/production';
  await api.post(`${checkout}/rules`, { id: 'beta-testers', description: 'paying customers on recent apps',
    conditions: [{ attribute: 'plan', operator: 'in', values: ['pro', 'enterprise'] }, { attribute: 'app_version', operator: 'semver_gte', values: ['2.3.0'] }],
    serve: { variant: 'on' } });
  await api.put(`${checkout}/default`, { variant: 'off' });
  await on('new-checkout', 'production');
  await api.put('/flags/payments-v2/environments/production/rollout-plan', { variant: 'on', steps: [{ percent: 5, hold: '2h' }, { percent: 25, hold: '4h' }, { percent: 50, hold: '1d' }, { percent: 100 }] });
  await on('payments-v2', 'production');
  await api.post('/flags/payments-v2/environments/production/rollout-plan/start');
  await api.post('/metrics', { key: 'payment_error', kind: 'rate', direction: 'lower_is_better' });
  await api.post('/flags/payments-v2/environments/production/guards', { metric: 'payment_error', statistic: 'rate', direction: 'higher_is_worse', threshold: { relative: 0.1 }, variant: 'on' });

  mkdirSync(OUT, { recursive: true });
  const page = await signedInPage(browser, server.url, undefined, { width: 1280, height: 720 });
  await page.goto(`${server.url}/#/flags?env=production`);
  await page.locator('tr[data-flag="search-v2"]').waitFor();
  await page.screenshot({ path: join(OUT, 'flags-list.png') });

  await page.goto(`${server.url}/#/flags/new-checkout?env=production`);
  const tester = page.locator('[data-section="tester"]');
  await tester.getByLabel('Context key').fill('user-42');
  await tester.getByLabel('Attribute name').fill('plan');
  await tester.getByLabel('Attribute value').fill('pro');
  await tester.getByRole('button', { name: 'Add attribute' }).click();
  await tester.getByLabel('Attribute name').nth(1).fill('app_version');
  await tester.getByLabel('Attribute value').nth(1).fill('2.4.0');
  await tester.getByRole('button', { name: 'Evaluate' }).click();
  await page.locator('[data-rule="beta-testers"].matched').waitFor();
  await page.setViewportSize({ width: 1280, height: 1260 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(OUT, 'flag-context-tester.png') });

  await page.setViewportSize({ width: 1280, height: 820 });
  await page.goto(`${server.url}/#/flags/payments-v2/plan?env=production`);
  await page.locator('.plan-timeline[data-state="running"]').waitFor();
  await page.screenshot({ path: join(OUT, 'rollout-plan-running.png') });
  console.log(`screenshots written to ${OUT}`);
} finally {
  await browser.close();
  await server.stop();
}
