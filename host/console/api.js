// The API client: every call goes to the public /api/v1, with the session's CSRF token
// on each state-changing request. A 401 asks the app to show the login form.

const BASE = '/api/v1';

/** Who is logged in. `auth` false: the server runs without access control. */
export const session = { name: '', role: 'admin', auth: false, csrf_token: '' };

/** An API error answer: its status and the server's own sentence. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Sends one request. `body` is sent as JSON, unless it is a Blob (a plugin upload).
 * Resolves to the JSON answer; rejects with an ApiError naming what went wrong.
 */
export async function api(method, path, body) {
  const headers = {};
  let payload;
  if (body instanceof Blob) {
    headers['Content-Type'] = 'application/wasm';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (CHANGES.has(method)) headers['X-CSRF-Token'] = session.csrf_token ?? '';
  let response;
  try {
    response = await fetch(BASE + path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, `the server could not be reached (${e.message})`, null);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const message = json?.error ?? (text || `${response.status} ${response.statusText}`);
    if (response.status === 401 && path !== '/session') {
      window.dispatchEvent(new CustomEvent('wasmcron:login-needed', { detail: message }));
    }
    throw new ApiError(response.status, message, json);
  }
  return json;
}

export const get = (path) => api('GET', path);

/**
 * Reads the session. A server without access control answers `auth: false`: no login,
 * every action allowed. Resolves false when a login is needed.
 */
export async function loadSession() {
  try {
    Object.assign(session, await get('/session'));
    return true;
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

/** Logs in with an API token; rejects with the server's 401 message for a bad one. */
export async function login(token) {
  Object.assign(session, await api('POST', '/session', { token }));
}

export async function logout() {
  await api('DELETE', '/session');
  Object.assign(session, { name: '', role: 'viewer', auth: true, csrf_token: '' });
}

const RANK = { viewer: 0, operator: 1, admin: 2 };

/** What the role may change: 'jobs' (jobs and executions) needs operator, 'plugins' admin. */
export function can(what) {
  const rank = RANK[session.role] ?? 0;
  return what === 'plugins' ? rank >= RANK.admin : rank >= RANK.operator;
}

/** A query string from the entries that have a value. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** An id or name as one path segment. */
export const seg = encodeURIComponent;
