// Sign in.

import { ApiError } from '../api.js';
import { field, h, replace } from '../dom.js';
import { session } from '../session.js';

/**
 * @param {HTMLElement} view
 * @param {() => Promise<void>} onSignedIn
 * @param {string} [notice] why sign-in is asked for (e.g. the session expired)
 */
export function loginPage(view, onSignedIn, notice) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'alert alert-danger', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Sign in');
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to Pennon'),
    notice ? h('p', { class: 'alert alert-info session-notice', role: 'status' }, notice) : null,
    error,
    field('Email', email),
    field('Password', password),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    submit.setAttribute('disabled', '');
    try {
      await session.signIn(/** @type {HTMLInputElement} */ (email).value, /** @type {HTMLInputElement} */ (password).value);
      await onSignedIn();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401
        ? 'Wrong email or password.'
        : err instanceof ApiError && err.status === 429
          ? 'Too many attempts; wait a minute and try again.'
          : `Could not sign in: ${err instanceof Error ? err.message : err}`;
      error.hidden = false;
    } finally {
      submit.removeAttribute('disabled');
    }
  });
  replace(view, form);
  email.focus();
}
