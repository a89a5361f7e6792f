/**
 * The HTTP server (fastify 5): the operator page (`/`, server/http/page.ts), its JSON API (`/api/…`,
 * server/http/api.ts, described at `/api/openapi.json`), and the device mirror (`/ota/…`, server/http/mirror.ts).
 * Client addresses (login throttles, events, logs) come from `X-Forwarded-For` only when the connection is from
 * loopback (a reverse proxy on the same host); anything else is the socket's address.
 */
import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { LoginThrottle } from '../login-throttle.ts';
import { SnapshotCache } from '../snapshots/reader.ts';
import type { Publisher } from '../publisher.ts';
import type { LoginPolicy } from '../users.ts';
import { AdminAuth } from './admin-auth.ts';
import { registerApi } from './api.ts';
import { registerEvents } from './events.ts';
import { registerFleetApi } from './fleet-api.ts';
import { LiveTransfers } from './transfers.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { sendKnownError, validationMessage } from './errors.ts';
import { type MirrorHooks, sharedAccounts } from './hooks.ts';
import { registerMirror } from './mirror.ts';
import { OfferResolver } from './offer.ts';
import { registerPage } from './page.ts';
import { clearUploads } from './upload.ts';

/** Default largest upload, bytes (64 MiB: a Waspmote binary is under 128 KiB, an ESP32 image a few MiB). */
export const DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

/** Options of startHttp. */
export interface HttpOptions {
  /** Address to listen on (default 127.0.0.1: put a TLS reverse proxy in front for anything else). */
  host?: string;
  /** TCP port; 0 = a free port (see HttpHandle.port). */
  port: number;
  /** The publisher of the root served (the one writer of UPGRADE.TXT). */
  publisher: Publisher;
  /** Shared accounts for the mirror when `hooks.authenticate` is not given (the FTP accounts). */
  users: LoginPolicy;
  /** The admin password (plain text, hashed at start and not kept); undefined: the operator page refuses logins (503). */
  adminPassword?: string;
  /** The fleet's hooks (authenticate, offerFor, onEvent); none: shared accounts and the root's UPGRADE.TXT. */
  hooks?: MirrorHooks;
  /**
   * The served fleet (server/fleet/serve.ts `ServedFleet.fleet`): rollouts, device logins, audit and live events on
   * the API; undefined (--no-fleet) makes those routes answer 404/409.
   */
  fleet?: Fleet;
  /**
   * Running downloads for the page's live progress (server/http/transfers.ts). The mirror records its own; pass one
   * shared with the FTP layer so its RETRs show too. Default: a new one (the mirror's only).
   */
  transfers?: LiveTransfers;
  /** Largest upload, bytes. Default DEFAULT_MAX_UPLOAD_BYTES. */
  maxUploadBytes?: number;
  /** Failed-login delays (default: LoginThrottle's defaults, as FTP). */
  throttle?: LoginThrottle;
  log: Logger;
}

/** A running HTTP server. `close()` is idempotent. */
export interface HttpHandle {
  host: string;
  port: number;
  /** The fastify instance (for tests: `inject`). */
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * fastify and its two plugins, loaded by the first buildHttpApp rather than with this module: a firmdrop without
 * --http-port (FTP only, the default) never loads them, about 4 MB of an idle server's memory (BENCHMARKS.md).
 */
async function loadFastify() {
  const [core, cookie, swagger] = await Promise.all([import('fastify'), import('@fastify/cookie'), import('@fastify/swagger')]);
  return { fastify: core.fastify, LogController: core.LogController, fastifyCookie: cookie.fastifyCookie, fastifySwagger: swagger.default };
}

/**
 * Builds the fastify app with every route (not listening). The OpenAPI document is generated from the route schemas.
 * @throws Error when the admin password is empty or the page's assets are missing
 */
export async function buildHttpApp(opts: HttpOptions): Promise<FastifyInstance> {
  const { fastify, LogController, fastifyCookie, fastifySwagger } = await loadFastify();
  const auth = opts.adminPassword === undefined ? undefined : await AdminAuth.create(opts.adminPassword);
  const hooks = opts.hooks ?? {};
  const app = fastify({
    loggerInstance: opts.log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: 'loopback',
    genReqId: () => randomBytes(8).toString('hex'),
    bodyLimit: 64 * 1024, // JSON bodies; uploads are streamed (server/http/upload.ts) with their own cap
    routerOptions: { maxParamLength: 200 },
  });
  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'firmdrop operator API', version: '1', description: 'What the operator page does: see README, "Web page and HTTP mirror".' },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'firmdrop_session' } } },
    },
    transform: ({ schema, url, route }) => {
      // The upload's body is a raw stream (not validated by Ajv); the document still says what to send.
      if (url === '/api/releases' && route.method === 'POST') {
        return { schema: { ...schema, consumes: ['application/octet-stream'], body: { type: 'string', format: 'binary' } } as typeof schema, url };
      }
      return { schema, url };
    },
  });
  // API answers are per session and may carry a CSRF token: never stored by a browser or proxy cache (RFC 9111 §5.2.2.5).
  app.addHook('onSend', async (req, reply) => {
    if (req.url.startsWith('/api/')) void reply.header('cache-control', 'no-store');
  });
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload as Readable));
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (sendKnownError(reply, err)) return;
    if (err.validation) return reply.code(400).send({ error: validationMessage(err.validation, err.message) });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    req.log.error({ err, url: req.url }, 'HTTP request failed');
    return reply.code(500).send({ error: 'internal error; the server log has the details' });
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/api/')) return reply.code(404).send({ error: `no such API route: ${req.method} ${req.url.split('?')[0]}` });
    return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
  });
  registerPage(app);
  const transfers = opts.transfers ?? new LiveTransfers();
  const hub = registerEvents(app, opts.fleet, auth, transfers);
  registerApi(app, {
    publisher: opts.publisher, auth, throttle: opts.throttle ?? new LoginThrottle(),
    maxUploadBytes: opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES, log: opts.log,
    fleet: opts.fleet !== undefined, onLogout: (id) => hub?.closeSession(id),
  });
  registerFleetApi(app, { fleet: opts.fleet, publisher: opts.publisher, auth });
  registerMirror(app, {
    offers: new OfferResolver(opts.publisher.root, hooks),
    hooks,
    authenticate: hooks.authenticate ?? sharedAccounts(opts.users),
    throttle: opts.throttle ?? new LoginThrottle(),
    cache: new SnapshotCache(),
    transfers,
    log: opts.log,
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

/**
 * Starts the HTTP server and logs one `http listening` line (host, port).
 * @throws whatever listen throws (EADDRINUSE…), and buildHttpApp's errors; nothing is left running then
 */
export async function startHttp(opts: HttpOptions): Promise<HttpHandle> {
  await clearUploads(opts.publisher.root);
  const app = await buildHttpApp(opts);
  const host = opts.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: opts.port });
  } catch (e) {
    await app.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  opts.log.info({ host, port }, `http listening on ${host}:${port} (operator page /, API /api/, device mirror /ota/)`);
  let closing: Promise<void> | undefined;
  return { host, port, app, close: () => (closing ??= app.close().then(() => undefined)) };
}
