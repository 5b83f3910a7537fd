// Who is signed in, and what their role lets them do. The API enforces roles; the dashboard only hides the
// controls a role cannot use.

import { api } from './api.js';

const RANK = { viewer: 0, editor: 1, admin: 2 };

/** @type {{kind: string, id: number, name: string, role: 'viewer'|'editor'|'admin', expires_at?: string | null} | null} */
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
    me = { ...answer.user, expires_at: answer.user?.expires_at ?? answer.expires_at };
    return me;
  },
  /**
   * When the session ends (milliseconds), as the server says (`/auth/me` and the sign-in answer carry it,
   * however the session was started); null when it does not end.
   */
  get expiresAt() {
    const at = Date.parse(me?.expires_at ?? '');
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
  },
  /** Whether the caller has at least `role`. @param {'viewer'|'editor'|'admin'} role */
  can(role) {
    return me !== null && RANK[me.role] >= RANK[role];
  },
};
