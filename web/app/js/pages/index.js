// Every page and the path it answers. Flag pages share the header of pages/flag/header.js.

import { flagsPage } from './flags.js';
import { newFlagPage } from './new-flag.js';
import { guardsPage } from './flag/guards.js';
import { historyPage } from './flag/history.js';
import { planPage } from './flag/plan.js';
import { resultsPage } from './flag/results.js';
import { targetingPage } from './flag/targeting.js';
import { triggersPage } from './flag/triggers.js';
import { auditPage } from './audit.js';
import { changeRequestPage } from './change-request.js';
import { changeRequestsPage } from './change-requests.js';
import { connectPage } from './connect.js';
import { environmentPage } from './environment.js';
import { environmentsPage } from './environments.js';
import { segmentPage } from './segment-form.js';
import { segmentsPage } from './segments.js';
import { metricsPage } from './metrics.js';
import { tokensPage } from './tokens.js';
import { usersPage } from './users.js';
import { webhooksPage } from './webhooks.js';

/** @param {(pattern: string, page: import('../router.js').Page) => void} route */
export function registerPages(route) {
  route('/flags', flagsPage);
  route('/flags/new', newFlagPage);
  route('/flags/:flag', targetingPage);
  route('/flags/:flag/plan', planPage);
  route('/flags/:flag/guards', guardsPage);
  route('/flags/:flag/results', resultsPage);
  route('/flags/:flag/triggers', triggersPage);
  route('/flags/:flag/history', historyPage);
  route('/segments', segmentsPage);
  route('/metrics', metricsPage);
  route('/segments/new', segmentPage);
  route('/segments/:segment', segmentPage);
  route('/audit', auditPage);
  route('/change-requests', changeRequestsPage);
  route('/change-requests/:id', changeRequestPage);
  route('/connect', connectPage);
  route('/environments', environmentsPage);
  route('/environments/:env', environmentPage);
  route('/users', usersPage);
  route('/tokens', tokensPage);
  route('/webhooks', webhooksPage);
}
