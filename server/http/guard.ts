/**
 * Access check of the operator API's routes: `open` (login, OpenAPI), `read` (needs the session cookie: 401), and
 * `change` (needs the session and its CSRF token in `X-CSRF-Token`: 403), the synchronizer token pattern of the OWASP
 * CSRF Prevention Cheat Sheet. The session found is kept on the request (`req.adminSession`).
 */
import type { FastifyRequest } from 'fastify';
import { AdminAuth, CSRF_HEADER, SESSION_COOKIE, type AdminSession } from './admin-auth.ts';
import { ApiError } from './errors.ts';

/** What a route needs: nothing, a session, or a session and its CSRF token. */
export type Access = 'open' | 'read' | 'change';

declare module 'fastify' {
  interface FastifyRequest { adminSession?: AdminSession }
}

/**
 * A fastify preHandler that enforces `access` against the sessions of `auth` (undefined: no admin password, so no
 * session exists and every guarded route answers 401).
 * @throws ApiError 401 (no or expired session), 403 (CSRF token missing or wrong)
 */
export function guard(auth: AdminAuth | undefined, access: Access): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    if (access === 'open') return;
    const s = auth?.get(req.cookies[SESSION_COOKIE]);
    if (!s) throw new ApiError(401, 'not logged in, or the session expired: log in again');
    if (access === 'change' && !AdminAuth.csrfMatches(s, req.headers[CSRF_HEADER])) {
      throw new ApiError(403, 'missing or wrong CSRF token (X-CSRF-Token): reload the page and try again');
    }
    req.adminSession = s;
  };
}
