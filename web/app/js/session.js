// Who is signed in, and what their role lets them do. The API enforces roles; the dashboard only hides the
// controls a role cannot use.

import { api } from './api.js';

const RANK = { viewer: 0, editor: 1, admin: 2 };
const EXPIRES_KEY = 'pennon.session-expires';

/** @type {{kind: string, id: number, name: string, role: 'viewer'|'editor'|'admin'} | null} */
let me = null;

export const session = {
  get user() {
    return me;
  },
  /** Asks the server who we are; null when not signed in. */
  async load() {
    try {
      me = await api.get('/auth/me');
    } catch {
      me = null;
    }
    return me;
  },
  /** @param {string} email @param {string} password */
  async signIn(email, password) {
    const answer = await api.post('/auth/login', { email, password });
    me = answer.user;
    if (answer.expires_at) localStorage.setItem(EXPIRES_KEY, answer.expires_at);
    return me;
  },
  /** When the session ends (RFC 3339), as the sign-in said; null when this browser did not sign it in. */
  get expiresAt() {
    const at = Date.parse(localStorage.getItem(EXPIRES_KEY) ?? '');
    return Number.isNaN(at) ? null : at;
  },
  async signOut() {
    try {
      await api.post('/auth/logout');
    } finally {
      me = null;
    }
  },
  clear() {
    me = null;
    localStorage.removeItem(EXPIRES_KEY);
  },
  /** Whether the caller has at least `role`. @param {'viewer'|'editor'|'admin'} role */
  can(role) {
    return me !== null && RANK[me.role] >= RANK[role];
  },
};
