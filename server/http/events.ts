/**
 * Live updates for the operator page: `GET /api/events`, a server-sent event stream (HTML Living Standard §9.2,
 * `text/event-stream`). The hub observes the fleet's session events (Fleet.observe: the same events, from FTP
 * sessions and mirror requests, that feed device status) and sends
 *   `event: device`  data `{"device": DeviceReport, "progress": {"bytes": N, "size": N} | null}` when a device's row
 *                    changed (login, UPGRADE.TXT read, fetch started or ended; bytes = REST offset + bytes sent);
 *   `event: progress` data `{"login", "file", "version", "bytes", "size"}` every PROGRESS_MS while a device's
 *                    download through the mirror runs (bytes = where it started + bytes handed to the socket);
 *   `event: rollout` data `{}` when the rollout in progress changed (state, wave, failures; the page then reads
 *                    `/api/rollout`), whoever changed it (the page, the CLI, the server's own error budget or waves).
 * Changes are gathered for PUSH_MS and each device is sent once per round with its latest row, so a burst of events
 * costs one line per device. Each client's unsent bytes are bounded (MAX_CLIENT_BUFFER_BYTES): a client that does
 * not read is disconnected (its EventSource reconnects and the page reloads the table). A stream ends when its
 * session logs out or expires, and when the server closes.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { SessionEvent } from '../ftp/hooks.ts';
import { deviceReport } from '../fleet/devices.ts';
import type { Fleet } from '../fleet/fleet.ts';
import type { AdminAuth } from './admin-auth.ts';
import { ApiError } from './errors.ts';
import { FLEET_SCHEMAS } from './fleet-schemas.ts';
import { guard } from './guard.ts';
import type { LiveTransfers } from './transfers.ts';

/** Changes are gathered this long before they are sent, ms. */
export const PUSH_MS = 100;
/** How often the rollout is checked for changes and idle streams get a comment line (keeps proxies from closing them), ms. */
export const HEARTBEAT_MS = 15_000;
/** How often running downloads report their progress, ms. */
export const PROGRESS_MS = 500;
/** How often the rollout in progress is compared with the last one sent, ms. */
export const ROLLOUT_CHECK_MS = 250;
/** Unsent bytes a client may have before it is disconnected (256 KiB). */
export const MAX_CLIENT_BUFFER_BYTES = 256 * 1024;
/** Most event streams open at once (503 beyond). */
export const MAX_STREAMS = 50;

interface Client { res: ServerResponse; sessionId: string }

/** Fans the fleet's session events out to the open event streams. */
export class EventHub {
  readonly #clients = new Set<Client>();
  readonly #pending = new Set<string>();
  #pushTimer: NodeJS.Timeout | undefined;
  #rolloutKey = '';
  readonly #ticker: NodeJS.Timeout;
  #lastBeat = Date.now();
  #lastProgress = 0;
  readonly #progressSent = new Map<string, number>();
  #closed = false;

  /** Registers itself as an observer of `fleet` (once, for the server's lifetime). */
  constructor(private readonly fleet: Fleet, private readonly auth: AdminAuth | undefined, private readonly transfers?: LiveTransfers) {
    fleet.observe(this);
    this.#rolloutKey = this.#rolloutState();
    this.#ticker = setInterval(() => this.#tick(), ROLLOUT_CHECK_MS);
    this.#ticker.unref();
  }

  /** Open streams. */
  get size(): number {
    return this.#clients.size;
  }

  /** Fleet observer: called before the fleet applies the event, so the row is read PUSH_MS later. Never throws. */
  event(e: SessionEvent): void {
    if (this.#closed || this.#clients.size === 0) return;
    const login = e.type === 'connect' || e.type === 'login-failed' ? undefined : e.login;
    if (!login) return;
    this.#pending.add(login);
    this.#pushTimer ??= setTimeout(() => this.#push(), PUSH_MS);
  }

  /**
   * Takes over `res` as an event stream for the session `sessionId`.
   * @throws ApiError 503 when MAX_STREAMS are open
   */
  open(res: ServerResponse, sessionId: string): void {
    if (this.#clients.size >= MAX_STREAMS) throw new ApiError(503, `too many live views open (${MAX_STREAMS}): close another tab and reload`);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx: do not buffer the stream
    });
    const c: Client = { res, sessionId };
    this.#clients.add(c);
    res.on('close', () => this.#clients.delete(c));
    this.#send(c, 'retry: 3000\nevent: hello\ndata: {}\n\n');
  }

  /** Ends the streams of one session (logout). */
  closeSession(sessionId: string): void {
    for (const c of [...this.#clients]) if (c.sessionId === sessionId) this.#end(c);
  }

  /** Ends every stream and stops (server close). Idempotent. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#ticker);
    if (this.#pushTimer) clearTimeout(this.#pushTimer);
    for (const c of [...this.#clients]) this.#end(c);
  }

  #end(c: Client): void {
    this.#clients.delete(c);
    c.res.end();
  }

  /** Writes to one client, or disconnects it when its unsent bytes would pass the bound. */
  #send(c: Client, text: string): void {
    if (c.res.writableLength + Buffer.byteLength(text) > MAX_CLIENT_BUFFER_BYTES) {
      this.#end(c);
      return;
    }
    c.res.write(text);
  }

  #broadcast(text: string): void {
    for (const c of [...this.#clients]) this.#send(c, text);
  }

  #push(): void {
    this.#pushTimer = undefined;
    if (this.#closed) return;
    const cohorts = new Map(this.fleet.deviceList().map((d) => [d.login, d.cohort]));
    const running = new Map<string, { bytes: number; size: number }>();
    for (const [, t] of this.transfers?.all() ?? []) running.set(t.login, { bytes: t.offset + t.sent(), size: t.size });
    const lines: string[] = [];
    for (const login of this.#pending) {
      if (!cohorts.has(login)) continue; // shared logins have no row
      const s = this.fleet.status.get(login);
      const live = s.dlOutcome === 'in-progress' ? running.get(login) : undefined;
      const progress = live ?? (s.dlSize === null ? null : { bytes: (s.dlOffset ?? 0) + (s.dlBytes ?? 0), size: s.dlSize });
      lines.push(`event: device\ndata: ${JSON.stringify({ device: deviceReport({ login, cohort: cohorts.get(login) ?? null }, s), progress })}\n\n`);
    }
    this.#pending.clear();
    if (lines.length) this.#broadcast(lines.join(''));
  }

  #rolloutState(): string {
    const r = this.fleet.currentRollout();
    return r ? `${r.id} ${r.state} ${r.wave} ${r.failures} ${r.percent} ${r.cohorts.join(',')} ${r.updatedAt}` : 'none';
  }

  /** One `progress` event per running device download whose byte count moved since the last one. */
  #progress(): void {
    this.#lastProgress = Date.now();
    const devices = new Set(this.fleet.deviceList().map((d) => d.login));
    const lines: string[] = [];
    const running = new Set<string>();
    for (const [id, t] of this.transfers?.all() ?? []) {
      running.add(id);
      const bytes = t.offset + t.sent();
      if (!devices.has(t.login) || this.#progressSent.get(id) === bytes) continue;
      this.#progressSent.set(id, bytes);
      lines.push(`event: progress\ndata: ${JSON.stringify({ login: t.login, file: t.name, version: t.version ?? null, bytes, size: t.size })}\n\n`);
    }
    for (const id of this.#progressSent.keys()) if (!running.has(id)) this.#progressSent.delete(id);
    if (lines.length) this.#broadcast(lines.join(''));
  }

  #tick(): void {
    if (this.#clients.size === 0) return;
    if (this.transfers?.size && Date.now() - this.#lastProgress >= PROGRESS_MS) this.#progress();
    const key = this.#rolloutState();
    if (key !== this.#rolloutKey) {
      this.#rolloutKey = key;
      this.#broadcast('event: rollout\ndata: {}\n\n');
    }
    if (Date.now() - this.#lastBeat < HEARTBEAT_MS) return;
    this.#lastBeat = Date.now();
    for (const c of [...this.#clients]) {
      if (this.auth?.alive(c.sessionId) === false) this.#end(c);
      else this.#send(c, ': keep-alive\n\n');
    }
  }
}

/**
 * Registers `GET /api/events` (needs the session; 404 with --no-fleet) and returns the hub, or undefined without a
 * fleet. The hub is closed before the server closes (fastify `preClose`), so open streams never hold it up.
 */
export function registerEvents(app: FastifyInstance, fleet: Fleet | undefined, auth: AdminAuth | undefined, transfers?: LiveTransfers): EventHub | undefined {
  const hub = fleet ? new EventHub(fleet, auth, transfers) : undefined;
  app.get('/api/events', { schema: { tags: ['fleet'], ...FLEET_SCHEMAS.events }, preHandler: guard(auth, 'read') }, async (req, reply) => {
    if (!hub) throw new ApiError(404, 'the fleet is off (firmdrop runs with --no-fleet): there are no device events');
    if (hub.size >= MAX_STREAMS) throw new ApiError(503, `too many live views open (${MAX_STREAMS}): close another tab and reload`);
    reply.hijack();
    hub.open(reply.raw, req.adminSession!.id);
  });
  app.addHook('preClose', async () => hub?.close());
  return hub;
}
