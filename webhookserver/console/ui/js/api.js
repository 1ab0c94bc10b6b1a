// api.js: the user API client (internal/userapi/types.go): fetch with the session
// cookie, X-CSRF-Token from the aias_csrf cookie on every non-GET request (the session cookie
// is HttpOnly), and error answers turned into APIError.
import { enc } from './routes.js';

export const API = '/api/v1';
export const nsAPI = (ns, ...parts) => `${API}/namespaces/${enc(ns)}${parts.map((p) => '/' + enc(p)).join('')}`;

// unauthorized runs when a request finds the session gone (HTTP 401); main.js sets it.
let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.reason = (body && body.reason) || '';
  }
}

// randomKey works in plain-http contexts too, where crypto.randomUUID is missing.
export function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return '';
}

export async function api(path, opts = {}) {
  const init = { method: opts.method || 'GET', headers: { Accept: 'application/json' }, credentials: 'same-origin', signal: opts.signal, body: opts.body };
  Object.assign(init.headers, opts.headers || {});
  if (init.method !== 'GET') init.headers['X-CSRF-Token'] = cookie('aias_csrf');
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, { error: `cannot reach the server: ${e.message}`, reason: 'Unavailable' });
  }
  let body = null;
  if (res.status !== 204) {
    const text = await res.text();
    if (text) { try { body = JSON.parse(text); } catch { body = { error: text.slice(0, 300) }; } }
  }
  if (!res.ok) {
    const err = new APIError(res.status, body);
    if (res.status === 401 && !opts.quiet401) unauthorized();
    throw err;
  }
  return body;
}
