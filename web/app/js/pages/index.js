// Every page and the path it answers. Flag pages share the header of pages/flag/header.js.

import { flagsPage, newFlagPage } from './flags.js';
import { guardsPage } from './flag/guards.js';
import { historyPage } from './flag/history.js';
import { planPage } from './flag/plan.js';
import { placeholder } from './placeholder.js';
import { targetingPage } from './flag/targeting.js';

/** @param {(pattern: string, page: import('../router.js').Page) => void} route */
export function registerPages(route) {
  route('/flags', flagsPage);
  route('/flags/new', newFlagPage);
  route('/flags/:flag', targetingPage);
  route('/flags/:flag/plan', planPage);
  route('/flags/:flag/guards', guardsPage);
  route('/flags/:flag/history', historyPage);
  route('/segments', placeholder('Segments'));
  route('/segments/:segment', placeholder('Segment'));
  route('/audit', placeholder('Audit log'));
  route('/environments', placeholder('Environments'));
  route('/environments/:env', placeholder('Environment'));
  route('/users', placeholder('Users'));
  route('/tokens', placeholder('API tokens'));
}
