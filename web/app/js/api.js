// The REST API, as the dashboard calls it: JSON in and out, the session cookie for credentials, and every
// error as an ApiError carrying the problem body (status, detail, field, errors[{path, message}], current_version).

export const BASE = '/api/v1';

export class ApiError extends Error {
  /** @param {number} status @param {any} problem */
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    /** @type {{detail?: string, field?: string, errors?: {path: string, message: string}[], current_version?: number}} */
    this.problem = problem ?? {};
  }
}

/** Headers the next change (a request other than GET) carries, then forgets. @type {Record<string, string> | null} */
let nextChangeHeaders = null;

/**
 * Headers for the next change only: a config change's `X-Pennon-Comment` or `X-Pennon-Bypass-Reason` where
 * approvals are required. Empty values are left out; `null` forgets them.
 * @param {Record<string, string | undefined> | null} headers
 */
export function forNextChange(headers) {
  const kept = Object.entries(headers ?? {}).filter(([, v]) => v && v.trim());
  nextChangeHeaders = kept.length ? Object.fromEntries(kept.map(([k, v]) => [k, /** @type {string} */ (v).trim()])) : null;
}

/** Listeners told when the session has ended (any 401). @type {Set<() => void>} */
const signedOut = new Set();
/** @param {() => void} fn */
export function onSignedOut(fn) {
  signedOut.add(fn);
}

/**
 * One request. `version` becomes `If-Match`. Answers `{data, etag, status}`; throws ApiError on 4xx/5xx.
 * @param {string} method
 * @param {string} path under /api/v1 (e.g. `/flags`), or absolute when it starts with `//`
 * @param {{body?: any, version?: number, query?: Record<string, any>}} [opts]
 */
export async function request(method, path, opts = {}) {
  const url = new URL(path.startsWith('//') ? path.slice(1) : BASE + path, location.origin);
  for (const [k, v] of Object.entries(opts.query ?? {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  // The header marks the dashboard's own requests: the server refuses changes carried by the cookie alone without
  // it (or a JSON body), which a cross-site form cannot send.
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', 'x-pennon-csrf': '1' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.version !== undefined) headers['if-match'] = `"${opts.version}"`;
  if (method !== 'GET' && nextChangeHeaders) {
    Object.assign(headers, nextChangeHeaders);
    nextChangeHeaders = null;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch (e) {
    throw new ApiError(0, { detail: `The server cannot be reached (${e instanceof Error ? e.message : e}).` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && path !== '/auth/login') signedOut.forEach((fn) => fn());
    throw new ApiError(response.status, typeof data === 'object' ? data : { detail: String(data) });
  }
  const etag = response.headers.get('etag');
  return { data, status: response.status, etag: etag ? Number(etag.replaceAll('"', '')) : undefined };
}

export const api = {
  /** @param {string} path @param {Record<string, any>} [query] */
  get: async (path, query) => (await request('GET', path, { query })).data,
  /** @param {string} path @param {any} [body] @param {number} [version] */
  post: async (path, body, version) => (await request('POST', path, { body: body ?? {}, version })).data,
  /** @param {string} path @param {any} body @param {number} [version] */
  put: async (path, body, version) => (await request('PUT', path, { body, version })).data,
  /** @param {string} path @param {any} body @param {number} [version] */
  patch: async (path, body, version) => (await request('PATCH', path, { body, version })).data,
  /** @param {string} path @param {number} [version] */
  del: async (path, version) => (await request('DELETE', path, { version })).data,
};

/**
 * Whether a change's answer is a change request (202 where the environment requires approvals) rather than
 * the changed object.
 * @param {any} answer
 */
export const isChangeRequest = (answer) => Boolean(answer) && typeof answer === 'object'
  && typeof answer.approvals_required === 'number' && 'proposed' in answer && 'diff' in answer;

/** Path-safe segment. @param {string} s */
export const seg = (s) => encodeURIComponent(s);
