/**
 * The operator's JSON API under `/api/` (the page uses nothing else): login, what is offered, the releases, upload
 * and publish, select, NO_FILE. Every route but login and the OpenAPI document needs the session cookie (401);
 * every change also needs the session's CSRF token in `X-CSRF-Token` (403). Failed logins are slowed per client
 * address as on FTP (server/login-throttle.ts). Errors: server/http/errors.ts.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { MANIFEST_NAME, isProgramName } from '../manifest.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import type { Publisher } from '../publisher.ts';
import { AdminAuth, SESSION_COOKIE, SESSION_MAX_MS } from './admin-auth.ts';
import { type Access, guard } from './guard.ts';
import { ApiError } from './errors.ts';
import { SCHEMAS } from './api-schemas.ts';
import { receiveUpload } from './upload.ts';

/** What the API routes need. `auth` undefined: no admin password configured (login answers 503). */
export interface ApiContext {
  publisher: Publisher;
  auth: AdminAuth | undefined;
  throttle: LoginThrottle;
  /** Whether the fleet routes work (false with --no-fleet); the page hides its fleet sections then. */
  fleet: boolean;
  /** Called with the session id at logout (ends its event streams). */
  onLogout?(sessionId: string): void;
  /** Largest upload accepted, bytes. */
  maxUploadBytes: number;
  log: Logger;
}

/** Registers the `/api/…` routes on `app` (the OpenAPI route is registered by server.ts). */
export function registerApi(app: FastifyInstance, ctx: ApiContext): void {
  const opts = (schema: object, access: Access) => ({ schema: { tags: ['operator'], ...schema }, preHandler: guard(ctx.auth, access) });

  app.post<{ Body: { password: string } }>('/api/login', opts(SCHEMAS.login, 'open'), async (req, reply) => {
    if (!ctx.auth) throw new ApiError(503, 'no admin password is configured: start firmdrop with FIRMDROP_ADMIN_PASSWORD or --admin-password-file');
    if (!(await ctx.auth.verify(req.body.password))) {
      const delay = ctx.throttle.failed(req.ip);
      ctx.log.warn({ address: req.ip, delayMs: delay }, 'operator login refused');
      await new Promise((r) => setTimeout(r, delay));
      throw new ApiError(401, 'wrong password');
    }
    ctx.throttle.succeeded(req.ip);
    const s = ctx.auth.open();
    ctx.log.info({ address: req.ip }, 'operator logged in');
    void reply.setCookie(SESSION_COOKIE, s.id, {
      httpOnly: true, sameSite: 'strict', path: '/', secure: req.protocol === 'https', maxAge: SESSION_MAX_MS / 1000,
    });
    return { csrfToken: s.csrf, fleet: ctx.fleet };
  });

  app.get('/api/session', opts(SCHEMAS.session, 'read'), async (req) => ({ csrfToken: req.adminSession!.csrf, fleet: ctx.fleet }));

  app.post('/api/logout', opts(SCHEMAS.logout, 'change'), async (req, reply) => {
    ctx.auth?.close(req.adminSession!.id);
    ctx.onLogout?.(req.adminSession!.id);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });

  app.get('/api/offer', opts(SCHEMAS.offer, 'read'), async () => offerOf(ctx.publisher));

  app.get('/api/releases', opts(SCHEMAS.releases, 'read'), async () => ({
    releases: await ctx.publisher.releases(),
    binaries: await rootBinaries(ctx.publisher.root),
  }));

  app.post<{ Querystring: { name: string; version?: number } }>('/api/releases', opts(SCHEMAS.upload, 'change'), async (req, reply) => {
    const { name, version } = req.query;
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    const tmp = await receiveUpload(ctx.publisher.root, name, req.body as Readable, ctx.maxUploadBytes, declared);
    try {
      const release = await ctx.publisher.importBinary(tmp, { name, version });
      ctx.log.info({ address: req.ip, name, version: release.version }, `operator published ${name} v${release.version} from the web page`);
      return reply.code(201).send({ release, offer: await offerOf(ctx.publisher) });
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  });

  app.post<{ Body: { name: string; version?: number } }>('/api/select', opts(SCHEMAS.select, 'change'), async (req) => {
    const release = await ctx.publisher.select(req.body.name, { version: req.body.version });
    ctx.log.info({ address: req.ip, name: release.name, version: release.version }, `operator selected ${release.name} v${release.version}`);
    return { release, offer: await offerOf(ctx.publisher) };
  });

  app.post('/api/no-file', opts(SCHEMAS.noFile, 'change'), async (req) => {
    await ctx.publisher.selectNoFile();
    ctx.log.info({ address: req.ip }, 'operator selected NO_FILE');
    return { offer: await offerOf(ctx.publisher) };
  });
}

/** What UPGRADE.TXT offers now, parsed and as text. */
async function offerOf(publisher: Publisher): Promise<{ manifest: unknown; text: string }> {
  const text = await fsp.readFile(path.join(publisher.root, MANIFEST_NAME), 'utf8').catch(() => '');
  const manifest = await publisher.current().catch(() => undefined);
  return { manifest: manifest ?? null, text };
}

/** The binaries in the root that `select` can offer: regular files named as programs, with their size in bytes. */
async function rootBinaries(root: string): Promise<{ name: string; size: number }[]> {
  const out: { name: string; size: number }[] = [];
  for (const d of await fsp.readdir(root, { withFileTypes: true })) {
    if (!d.isFile() || !isProgramName(d.name)) continue;
    const st = await fsp.lstat(path.join(root, d.name)).catch(() => undefined);
    if (st?.isFile()) out.push({ name: d.name, size: st.size });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
