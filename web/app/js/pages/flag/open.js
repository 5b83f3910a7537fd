// Opening a delivery tab: loads the flag, says so when it cannot, and gives up quietly when the person has
// moved to another page meanwhile (a late answer must not draw over the page opened next).

import { h, loadError, replace } from '../../dom.js';
import { loadFlag } from './header.js';

/**
 * The flag named in the route, or null when the page should stop (an error is shown, or the page was left).
 * @param {HTMLElement} view @param {string} key
 */
export async function openFlag(view, key) {
  const opened = location.hash;
  try {
    const flag = await loadFlag(key);
    return location.hash === opened ? flag : null;
  } catch (e) {
    if (location.hash !== opened) return null;
    replace(view, h('p', { class: 'crumbs' }, h('a', { href: '#/flags' }, 'Flags'), ' / '), h('h1', null, key),
      loadError(`Could not load the flag: ${e instanceof Error ? e.message : e}`));
    return null;
  }
}
