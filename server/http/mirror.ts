/**
 * The device mirror at `/ota/`: the same offer as FTP, over HTTP, for devices that pull firmware with an HTTP
 * client (an ESP8266/ESP32 or Arduino sketch, Quectel `AT+QHTTPGET`, u-blox `AT+UHTTPC`). HTTP Basic auth
 * (RFC 7617) with the devices' FTP credentials; each request is one session for the hooks (server/http/hooks.ts).
 *
 * Names served, and nothing else (any other name, dot-file, path with a slash or encoded slash: 404):
 * - `UPGRADE.TXT`: the manifest this login reads, byte for byte what FTP serves;
 * - `<NAME>`: the published snapshot of the program the manifest names (server/http/offer.ts);
 * - the pull layout of a version file, a CRC-32 file and the binary under fixed names: `version` (the offered
 *   VERSION, decimal, no line end; `0` for NO_FILE), `hash` (the binary's CRC-32, IEEE as zlib's crc32, 8 lowercase
 *   hex digits, no line end) and `bin` (the same bytes as `<NAME>`). A device reads `version`, downloads `bin` when it
 *   is newer, and compares the CRC-32 of what it received with `hash` before flashing.
 * Binaries answer `Range`/`If-Range` (206/416), `ETag` (the MD5), `If-None-Match` (304), `HEAD`, `Content-Length`
 * (server/http/range.ts).
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { MANIFEST_NAME, NO_FILE, isProgramName } from '../manifest.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import type { SnapshotCache } from '../snapshots/reader.ts';
import type { MirrorHooks, SessionEvent, SessionIdentity } from './hooks.ts';
import type { OfferResolver, ServedSnapshot } from './offer.ts';
import { etagOf, ifRangeAllows, noneMatchHits, parseRange } from './range.ts';
import type { LiveTransfers } from './transfers.ts';

/** Realm of the mirror's `WWW-Authenticate` challenge (RFC 7617 §2). */
export const MIRROR_REALM = 'firmdrop OTA';
/** The pull-layout names (see the module comment). */
export const PULL_VERSION = 'version';
/** The pull-layout CRC-32 file. */
export const PULL_HASH = 'hash';
/** The pull-layout binary. */
export const PULL_BIN = 'bin';

/** What the mirror routes need. */
export interface MirrorContext {
  offers: OfferResolver;
  hooks: MirrorHooks;
  authenticate: (user: string, pass: string, address: string) => SessionIdentity | null | Promise<SessionIdentity | null>;
  throttle: LoginThrottle;
  cache: SnapshotCache;
  /** Where running downloads are recorded for live progress (server/http/transfers.ts); optional. */
  transfers?: LiveTransfers;
  log: Logger;
}

/** `user`/`pass` of an `Authorization: Basic` header (RFC 7617 §2: base64 of `user:pass`), or undefined. */
export function parseBasicAuth(header: string | undefined): { user: string; pass: string } | undefined {
  const m = /^\s*Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), pass: text.slice(colon + 1) };
}

/** Registers `GET`/`HEAD /ota/:name` on `app`. */
export function registerMirror(app: FastifyInstance, ctx: MirrorContext): void {
  const emit = (e: SessionEvent) => {
    try {
      ctx.hooks.onEvent?.(e);
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, 'mirror onEvent hook threw; ignored');
    }
  };
  const handler = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const identity = await login(req, reply, ctx, emit);
    if (!identity) return reply;
    return serveName(req, reply, ctx, identity, emit);
  };
  app.get('/ota/:name', { schema: { hide: true } }, handler);
  app.get('/ota/*', { schema: { hide: true } }, async (_req, reply) => notFound(reply));
  app.get('/ota', { schema: { hide: true } }, async (_req, reply) => notFound(reply));
}

function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send('Not found\n');
}

/** Checks Basic credentials; answers 401 (after the throttle's delay for a wrong password) and returns null on failure. */
async function login(req: FastifyRequest, reply: FastifyReply, ctx: MirrorContext, emit: (e: SessionEvent) => void): Promise<SessionIdentity | null> {
  const creds = parseBasicAuth(req.headers.authorization);
  const at = Date.now();
  let identity: SessionIdentity | null = null;
  try {
    identity = creds ? await ctx.authenticate(creds.user, creds.pass, req.ip) : null;
  } catch (err) {
    // a failing fleet store must not turn into a 500 with its message: refuse, and say why in the log
    ctx.log.error({ err: (err as Error).message, address: req.ip }, 'mirror: authenticate hook failed; request refused');
    reply.code(503).type('text/plain; charset=utf-8').header('retry-after', '30').send('Try again later\n');
    return null;
  }
  if (identity) {
    emit({ type: 'login', sessionId: req.id, address: req.ip, login: identity.login, kind: identity.kind, at });
    return identity;
  }
  if (creds) {
    emit({ type: 'login-failed', sessionId: req.id, address: req.ip, user: creds.user, at });
    const delay = ctx.throttle.failed(req.ip);
    await new Promise((r) => setTimeout(r, delay));
  }
  reply.code(401).header('www-authenticate', `Basic realm="${MIRROR_REALM}", charset="UTF-8"`)
    .type('text/plain; charset=utf-8').send(creds ? 'Wrong user or password\n' : 'Credentials required (HTTP Basic, the FTP account)\n');
  return null;
}

async function serveName(req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply, ctx: MirrorContext,
  identity: SessionIdentity, emit: (e: SessionEvent) => void): Promise<FastifyReply> {
  const name = req.params.name;
  const head = req.method === 'HEAD';
  if (name === MANIFEST_NAME || name === PULL_VERSION || name === PULL_HASH) {
    const offer = await ctx.offers.manifestFor(identity);
    if (name === PULL_HASH) {
      const snap = offer.file === NO_FILE ? undefined : await ctx.offers.snapshotFor(identity, req.ip, offer.file);
      if (!snap) return notFound(reply);
      return sendSmall(req, reply, Buffer.from(snap.info.crc32));
    }
    if (!head) {
      ctx.offers.pin(identity, req.ip, offer);
      emit({ type: 'manifest-read', sessionId: req.id, address: req.ip, login: identity.login, file: offer.file, version: offer.version, at: Date.now() });
    }
    return sendSmall(req, reply, name === MANIFEST_NAME ? offer.bytes : Buffer.from(String(offer.version)));
  }
  let snap: ServedSnapshot | undefined;
  if (name === PULL_BIN) {
    const offer = await ctx.offers.manifestFor(identity);
    if (offer.file !== NO_FILE) snap = await ctx.offers.snapshotFor(identity, req.ip, offer.file);
  } else if (isProgramName(name)) {
    snap = await ctx.offers.snapshotFor(identity, req.ip, name);
  }
  if (!snap) return notFound(reply);
  return sendBinary(req, reply, ctx, identity, snap, emit);
}

/** A small text file (UPGRADE.TXT, version, hash) with an ETag and If-None-Match. */
function sendSmall(req: FastifyRequest, reply: FastifyReply, bytes: Buffer): FastifyReply {
  const etag = etagOf(createHash('md5').update(bytes).digest('hex'));
  reply.header('etag', etag).header('cache-control', 'no-cache').type('text/plain; charset=utf-8');
  if (noneMatchHits(req.headers['if-none-match'], etag)) return reply.code(304).send();
  // Node's http writes no body for HEAD (RFC 9110 §9.3.2) and fastify keeps the Content-Length of the bytes.
  return reply.send(bytes);
}

async function sendBinary(req: FastifyRequest, reply: FastifyReply, ctx: MirrorContext, identity: SessionIdentity,
  snap: ServedSnapshot, emit: (e: SessionEvent) => void): Promise<FastifyReply> {
  const size = snap.info.size;
  const etag = etagOf(snap.info.md5);
  reply.header('etag', etag).header('cache-control', 'no-cache');
  if (noneMatchHits(req.headers['if-none-match'], etag)) return reply.code(304).send();
  const ranged = ifRangeAllows(headerText(req.headers['if-range']), etag, snap.stat.mtimeMs) ? parseRange(headerText(req.headers.range), size) : { kind: 'full' as const };
  if (ranged.kind === 'unsatisfiable') {
    return reply.code(416).header('content-range', `bytes */${size}`).type('text/plain; charset=utf-8')
      .send(`Range not satisfiable: the file is ${size} bytes\n`);
  }
  const { start, end } = ranged.kind === 'partial' ? ranged.range : { start: 0, end: size - 1 };
  // HEAD: an empty stream, so fastify leaves the Content-Length below alone (Node writes no body for HEAD anyway).
  const head = req.method === 'HEAD';
  const source = head ? Readable.from([]) : await openSource(ctx, snap, start, end);
  if (!source) return notFound(reply); // pruned between the lookup and the open
  reply.header('accept-ranges', 'bytes').header('last-modified', new Date(snap.stat.mtimeMs).toUTCString())
    .type('application/octet-stream').header('content-length', end - start + 1);
  if (ranged.kind === 'partial') reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
  if (head) return reply.send(source);
  const base = { sessionId: req.id, address: req.ip, login: identity.login, name: snap.name, version: snap.version, offset: start, size };
  emit({ type: 'fetch-start', ...base, at: Date.now() });
  const began = Date.now();
  let sent = 0;
  let failed = false;
  const counter = new Transform({ transform(chunk: Buffer, _enc, cb) { sent += chunk.length; cb(null, chunk); } });
  source.on('error', (err: Error) => {
    failed = true;
    ctx.log.warn({ name: snap.name, err: err.message }, `mirror: reading ${snap.name} failed`);
    counter.destroy(err);
  });
  ctx.transfers?.start(req.id, { login: identity.login, name: snap.name, version: snap.version, offset: start, size, sent: () => sent });
  let ended = false;
  const finish = (outcome: 'completed' | 'cut-short' | 'failed') => {
    if (ended) return;
    ended = true;
    ctx.transfers?.end(req.id);
    emit({ type: 'fetch-end', ...base, bytes: sent, outcome, ms: Date.now() - began, at: Date.now() });
  };
  reply.raw.once('finish', () => finish(failed ? 'failed' : 'completed'));
  reply.raw.once('close', () => finish(failed ? 'failed' : 'cut-short'));
  return reply.send(source.pipe(counter));
}

/**
 * Bytes `start`..`end` (inclusive) of a snapshot: views of the shared SnapshotCache buffer when it holds the file,
 * else a read stream of a descriptor opened without following links; undefined when the file is gone.
 */
async function openSource(ctx: MirrorContext, snap: ServedSnapshot, start: number, end: number): Promise<Readable | undefined> {
  const cached = await ctx.cache.bytes(snap.file, snap.stat);
  if (cached) return Readable.from(chunks(cached, start, end + 1), { objectMode: false });
  const fh = await fsp.open(snap.file, fsc.O_RDONLY | fsc.O_NOFOLLOW).catch(() => undefined);
  return fh?.createReadStream({ start, end }); // closes fh at the end
}

/** A request header as one string (a repeated header's values joined, RFC 9110 §5.3). */
function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Slices of a shared Buffer, 64 KiB each (views, no copies). */
function* chunks(buf: Buffer, from: number, to: number): Generator<Buffer> {
  for (let at = from; at < to; at += 65536) yield buf.subarray(at, Math.min(to, at + 65536));
}
