// A page not written yet.

import { h, replace } from '../dom.js';

/** @param {string} title @returns {import('../router.js').Page} */
export function placeholder(title) {
  return async (view) => {
    replace(view, h('h1', null, title), h('p', null, 'Not available yet.'));
  };
}
