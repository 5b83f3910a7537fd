// Every page and the path it answers. Flag pages share the header of pages/flag/header.js.

import { flagsPage, newFlagPage } from './flags.js';
import { placeholder } from './placeholder.js';
import { targetingPage } from './flag/targeting.js';

/** @param {(pattern: string, page: import('../router.js').Page) => void} route */
export function registerPages(route) {
  route('/flags', flagsPage);
  route('/flags/new', newFlagPage);
  route('/flags/:flag', targetingPage);
  route('/flags/:flag/plan', placeholder('Rollout plan'));
  route('/flags/:flag/guards', placeholder('Guards'));
  route('/flags/:flag/history', placeholder('History'));
  route('/segments', placeholder('Segments'));
  route('/segments/:segment', placeholder('Segment'));
  route('/audit', placeholder('Audit log'));
  route('/environments', placeholder('Environments'));
  route('/environments/:env', placeholder('Environment'));
  route('/users', placeholder('Users'));
  route('/tokens', placeholder('API tokens'));
}
