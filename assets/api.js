/* The JSON API client. */
import { sessionEnded } from './session.js';
import { S } from './state.js';

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** Same-origin JSON fetch. A 401 outside the login calls means the session ended. */
export async function api(path, { method = 'GET', body, expect401 = false } = {}) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(path, opts); } catch (e) { throw new ApiError(0, 'network', 'Cannot reach the server'); }
  let data = null;
  try { data = await res.json(); } catch (e) { /* empty or non-JSON body */ }
  if (!res.ok) {
    if (res.status === 401 && !expect401 && S.user) sessionEnded();
    throw new ApiError(res.status, data && data.code, (data && data.error) || `${res.status} ${res.statusText}`);
  }
  return data;
}
