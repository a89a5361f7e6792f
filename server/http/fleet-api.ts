/**
 * The fleet routes of the operator API: rollouts (`/api/rollout…`), device logins (`/api/devices…`) and the audit
 * trail (`/api/audit`). Every change goes through the same functions as the CLI (server/fleet/rollouts.ts,
 * server/fleet/devices.ts), so the same rules refuse the same things with the same messages (409/400/404, see
 * server/http/errors.ts), each change is one store transaction with its audit entry, and the reports are the CLI's
 * `--json` shapes. After a change the fleet reloads the store at once (Fleet.refresh), so the served offers follow
 * before the answer is sent. The actor in the audit trail is `web-operator@<client address>`.
 *
 * With `--no-fleet` there is no store: reads answer 404 and changes 409, with a message saying so.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { rolloutReport } from '../cli/rollout.ts';
import { addDevices, deviceReport, removeDevice } from '../fleet/devices.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { abortRollout, completeRollout, expandRollout, pauseRollout, resumeRollout, startRollout, type StartOptions } from '../fleet/rollouts.ts';
import { parsePercent, parseWaves, parseWindow } from '../fleet/select.ts';
import type { Publisher } from '../publisher.ts';
import type { AdminAuth } from './admin-auth.ts';
import { ApiError } from './errors.ts';
import { FLEET_SCHEMAS as S } from './fleet-schemas.ts';
import { type Access, guard } from './guard.ts';

/** What the fleet routes need. `fleet` undefined: firmdrop runs with --no-fleet. */
export interface FleetApiContext {
  fleet: Fleet | undefined;
  publisher: Publisher;
  auth: AdminAuth | undefined;
}

/** The start form's body (FLEET_SCHEMAS.rolloutStart): percents as numbers or `"12.5%"` strings. */
interface StartBody {
  name: string; version?: number; cohorts?: string[]; percent?: number | string; maxFailures?: number;
  maxFailureRate?: number | string; window?: string; waves?: string | (number | string)[]; advanceAt?: number | string;
}

const NO_FLEET = 'the fleet is off (firmdrop runs with --no-fleet): no device logins, rollouts or audit; start it without --no-fleet';

/** The audit actor of a change made from the web page. */
export function webActor(req: FastifyRequest): string {
  return `web-operator@${req.ip}`;
}

/** Runs a parser of the CLI (percent, waves, window) and answers its one-line message as a 400. */
function parsed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new ApiError(400, (e as Error).message);
  }
}

const percentOf = (v: number | string | undefined, field: string) => (v === undefined ? undefined : parsed(() => parsePercent(String(v), field)));

/** The body of `POST /api/rollout/start` as StartOptions, parsed with the CLI's parsers. @throws ApiError 400 */
export function startOptions(b: StartBody): StartOptions {
  const rate = percentOf(b.maxFailureRate, 'maxFailureRate');
  const advance = percentOf(b.advanceAt, 'advanceAt');
  if (b.window !== undefined && b.window !== '') parsed(() => parseWindow(b.window!));
  const cohorts = (b.cohorts ?? []).map((c) => c.trim()).filter((c) => c !== '');
  const waves = b.waves === undefined || b.waves === '' ? undefined
    : parsed(() => parseWaves(Array.isArray(b.waves) ? b.waves.map(String).join(',') : String(b.waves)));
  return {
    name: b.name, version: b.version, cohorts: cohorts.length ? cohorts : undefined, percent: percentOf(b.percent, 'percent'),
    maxFailures: b.maxFailures, maxFailureRate: rate === undefined ? undefined : rate / 100,
    window: b.window === '' ? undefined : b.window, waves, advanceAt: advance === undefined ? undefined : advance / 100,
  };
}

/** Registers the fleet routes on `app`. */
export function registerFleetApi(app: FastifyInstance, ctx: FleetApiContext): void {
  const opts = (schema: object, access: Access) => ({ schema: { tags: ['fleet'], ...schema }, preHandler: guard(ctx.auth, access) });
  const fleetFor = (change: boolean): Fleet => {
    if (!ctx.fleet) throw new ApiError(change ? 409 : 404, NO_FLEET);
    return ctx.fleet;
  };
  /** Runs a rollout change, reloads the fleet's offers, answers the status report. */
  const change = async (fn: (f: Fleet) => unknown) => {
    const f = fleetFor(true);
    try {
      await fn(f);
    } finally {
      f.refresh(true);
    }
    return rolloutReport(f.store, f.root);
  };

  app.get('/api/rollout', opts(S.rolloutStatus, 'read'), async () => {
    const f = fleetFor(false);
    return rolloutReport(f.store, f.root); // device counts as the store has them (the fleet writes them every 500 ms)
  });
  app.post<{ Body: StartBody }>('/api/rollout/start', opts(S.rolloutStart, 'change'), async (req) => {
    const o = startOptions(req.body);
    return change((f) => startRollout(f.store, f.root, o, webActor(req)));
  });
  app.post<{ Body: { percent?: number | string; cohorts?: string[] } }>('/api/rollout/expand', opts(S.rolloutExpand, 'change'), async (req) => {
    const cohorts = (req.body.cohorts ?? []).map((c) => c.trim()).filter((c) => c !== '');
    const o = { percent: percentOf(req.body.percent, 'percent'), cohorts: cohorts.length ? cohorts : undefined };
    return change((f) => expandRollout(f.store, f.root, o, webActor(req)));
  });
  app.post('/api/rollout/pause', opts(S.rolloutPause, 'change'), async (req) => change((f) => pauseRollout(f.store, f.root, webActor(req))));
  app.post('/api/rollout/resume', opts(S.rolloutResume, 'change'), async (req) => change((f) => resumeRollout(f.store, f.root, webActor(req))));
  app.post('/api/rollout/abort', opts(S.rolloutAbort, 'change'), async (req) => change((f) => abortRollout(f.store, f.root, webActor(req))));
  app.post('/api/rollout/complete', opts(S.rolloutComplete, 'change'), async (req) =>
    change((f) => completeRollout(f.store, f.root, ctx.publisher, webActor(req))));

  app.get('/api/devices', opts(S.devices, 'read'), async () => {
    const f = fleetFor(false);
    // From the fleet's memory (what the store will hold after its next write): the same rows as `devices --json`.
    return { devices: f.deviceList().map((d) => deviceReport(d, f.status.get(d.login))) };
  });
  app.post<{ Body: { login: string; password: string; cohort?: string | null } }>('/api/devices', opts(S.deviceAdd, 'change'), async (req, reply) => {
    const f = fleetFor(true);
    const { login, password, cohort } = req.body;
    addDevices(f.store, f.root, [{ login, password, cohort: cohort || null }], webActor(req));
    f.refresh(true);
    return reply.code(201).send({ device: deviceReport({ login, cohort: cohort || null }, f.status.get(login)) });
  });
  app.delete<{ Params: { login: string } }>('/api/devices/:login', opts(S.deviceRemove, 'change'), async (req, reply) => {
    const f = fleetFor(true);
    removeDevice(f.store, f.root, req.params.login, webActor(req));
    f.refresh(true);
    return reply.code(204).send();
  });

  app.get<{ Querystring: { since?: string; limit: number } }>('/api/audit', opts(S.audit, 'read'), async (req) => {
    const f = fleetFor(false);
    let since: string | undefined;
    if (req.query.since !== undefined && req.query.since !== '') {
      const t = Date.parse(req.query.since);
      if (Number.isNaN(t)) throw new ApiError(400, `since "${req.query.since}": expected an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`);
      since = new Date(t).toISOString();
    }
    const entries = f.store.audit(since);
    return { entries: entries.slice(Math.max(0, entries.length - req.query.limit)) };
  });
}
