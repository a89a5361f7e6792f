// A logged-in client of the operator API for tests: the session cookie and CSRF token, and JSON calls.
import { ADMIN_PASSWORD } from './http-rig.ts';

export interface Session { cookie: string; csrf: string }

/** Logs in; `session` is set on 200. */
export async function login(base: string, password = ADMIN_PASSWORD): Promise<{ res: Response; session?: Session }> {
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  if (res.status !== 200) return { res };
  const cookie = res.headers.get('set-cookie')!;
  const body = await res.json() as { csrfToken: string };
  return { res, session: { cookie: cookie.split(';')[0]!, csrf: body.csrfToken } };
}

/** One API call; `csrf` null sends no token, undefined the session's. */
export function call(base: string, s: Session | undefined, method: string, url: string, body?: unknown, csrf: string | null | undefined = s?.csrf): Promise<Response> {
  const headers: Record<string, string> = {};
  if (s) headers.cookie = s.cookie;
  if (csrf !== undefined && csrf !== null) headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${base}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** A call that must answer `status`; returns its JSON body (or {} for 204). */
export async function expectStatus<T = Record<string, unknown>>(pending: Promise<Response>, status: number): Promise<T> {
  const res = await pending;
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected HTTP ${status}, got ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}
