/**
 * JSON schemas of the fleet routes of the operator API (rollouts, devices, audit), as fastify validates them with
 * Ajv; the OpenAPI document is generated from them. The shapes are the CLI's: `rollout status --json`
 * (server/cli/rollout.ts RolloutReport), `devices --json` (server/fleet/devices.ts DeviceReport), `audit --json`
 * (server/store/store.ts AuditRow). Option names are the CLI's flags in camelCase (docs/fleet.md).
 */
import { ERROR_SCHEMA } from './errors.ts';

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ERROR_SCHEMA]));
const PROGRAM_NAME = { type: 'string', pattern: '^[A-Za-z0-9_]{7}$', description: 'program name: exactly 7 letters, digits or _' } as const;
const VERSION = { type: 'integer', minimum: 1, maximum: 255, description: 'VERSION, 1..255' } as const;
/** A percent as the CLI takes it: `10`, `12.5` or `"12.5%"` (above 0, at most 100). */
const PERCENT = { anyOf: [{ type: 'number' }, { type: 'string', maxLength: 10 }], description: 'percent above 0 and at most 100, e.g. 10 or "12.5%"' } as const;
const COHORTS = { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 32 }, description: 'cohorts included whatever the percent' } as const;
const NULLABLE_STRING = { type: ['string', 'null'] } as const;

/** One device as `firmdrop devices --json` prints it. */
export const DEVICE_SCHEMA = {
  type: 'object',
  required: ['login', 'cohort', 'state', 'lastSeen', 'address', 'offered', 'download'],
  properties: {
    login: { type: 'string' }, cohort: NULLABLE_STRING,
    state: { type: 'string', enum: ['never-seen', 'offered', 'downloading', 'downloaded', 'updated', 'failed', 'no-update'] },
    lastSeen: { type: ['string', 'null'], format: 'date-time' }, address: NULLABLE_STRING,
    offered: { anyOf: [{ type: 'null' }, { type: 'object', required: ['file', 'version'], properties: { file: { type: 'string' }, version: { type: 'integer' } } }] },
    download: {
      anyOf: [{ type: 'null' }, {
        type: 'object', required: ['file', 'version', 'outcome', 'bytes'],
        properties: { file: { type: 'string' }, version: { type: ['integer', 'null'] }, outcome: NULLABLE_STRING, bytes: { type: 'integer', description: 'bytes of the file the device holds' } },
      }],
    },
  },
} as const;

/** What `firmdrop rollout status --json` prints: the rollout (or null), the root's offer, each wave's device counts. */
export const ROLLOUT_REPORT_SCHEMA = {
  type: 'object',
  required: ['rollout', 'rootOffer', 'waves'],
  properties: {
    rollout: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: true, required: ['name', 'version', 'state'] }] },
    rootOffer: { type: 'string', description: 'the root UPGRADE.TXT as one line: SENSOR1 v3, NO_FILE, none' },
    waves: {
      type: 'array',
      items: {
        type: 'object', required: ['wave', 'reaches', 'devices', 'states'],
        properties: {
          wave: { type: 'integer' }, reaches: { type: 'string' }, devices: { type: 'integer' },
          states: { type: 'object', additionalProperties: { type: 'integer' }, description: 'devices per state' },
        },
      },
    },
  },
} as const;

const AUDIT_SCHEMA = {
  type: 'object',
  required: ['id', 'at', 'actor', 'action', 'subject', 'detail', 'offerBefore', 'offerAfter'],
  properties: {
    id: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, actor: { type: 'string' }, action: { type: 'string' },
    subject: NULLABLE_STRING, detail: NULLABLE_STRING, offerBefore: NULLABLE_STRING, offerAfter: NULLABLE_STRING,
  },
} as const;

const CHANGE = (summary: string) => ({ summary, response: { 200: ROLLOUT_REPORT_SCHEMA, ...errors(401, 403, 409) } });

/** Route schemas of the fleet routes, by route. */
export const FLEET_SCHEMAS = {
  rolloutStatus: {
    summary: 'The rollout in progress (or the last one), its waves and device counts (firmdrop rollout status --json)',
    response: { 200: ROLLOUT_REPORT_SCHEMA, ...errors(401, 404) },
  },
  rolloutStart: {
    summary: 'Start a rollout of a published release (firmdrop rollout start): who gets it, error budget, window, waves',
    body: {
      type: 'object', required: ['name'], additionalProperties: false,
      properties: {
        name: PROGRAM_NAME, version: VERSION, cohorts: COHORTS, percent: PERCENT,
        maxFailures: { type: 'integer', minimum: 1, description: 'pause after N downloads cut short or failed' },
        maxFailureRate: { ...PERCENT, description: 'pause when failures reach this percent of the devices reached' },
        window: { type: 'string', maxLength: 20, description: 'offer only between HH:MM-HH:MM UTC' },
        waves: { anyOf: [{ type: 'string', maxLength: 100 }, { type: 'array', maxItems: 20, items: PERCENT }], description: 'e.g. "5%,25%,100%" or [5, 25, 100]: increasing, the last 100' },
        advanceAt: { ...PERCENT, description: 'start the next wave when this percent of the current one is updated (default 100)' },
      },
    },
    response: { 200: ROLLOUT_REPORT_SCHEMA, ...errors(400, 401, 403, 409) },
  },
  rolloutExpand: {
    summary: 'Reach more devices: a higher percent and/or more cohorts (firmdrop rollout expand; never shrinks)',
    body: { type: 'object', additionalProperties: false, properties: { percent: PERCENT, cohorts: COHORTS } },
    response: { 200: ROLLOUT_REPORT_SCHEMA, ...errors(400, 401, 403, 409) },
  },
  rolloutPause: CHANGE('Pause the rollout: devices that have not downloaded it read the previous offer'),
  rolloutResume: CHANGE('Resume a paused rollout (the failure count starts again at 0)'),
  rolloutAbort: CHANGE('Abort the rollout: every device back to the root UPGRADE.TXT'),
  rolloutComplete: CHANGE('Make the release the fleet-wide offer (root UPGRADE.TXT) and end the rollout'),
  devices: {
    summary: 'Every device login with its state (firmdrop devices --json)',
    response: { 200: { type: 'object', required: ['devices'], properties: { devices: { type: 'array', items: DEVICE_SCHEMA } } }, ...errors(401, 404) },
  },
  deviceAdd: {
    summary: 'Add a device login, or change its password and cohort (firmdrop devices add)',
    body: {
      type: 'object', required: ['login', 'password'], additionalProperties: false,
      properties: { login: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 64 }, cohort: { type: ['string', 'null'], maxLength: 32 } },
    },
    response: { 201: { type: 'object', required: ['device'], properties: { device: DEVICE_SCHEMA } }, ...errors(400, 401, 403, 409) },
  },
  deviceRemove: {
    summary: 'Remove a device login, its status and sessions (firmdrop devices remove)',
    params: { type: 'object', required: ['login'], properties: { login: { type: 'string', maxLength: 64 } } },
    response: { 204: { type: 'null' }, ...errors(401, 403, 404, 409) },
  },
  audit: {
    summary: 'The audit trail, oldest first (firmdrop audit --json): the newest `limit` entries at or after `since`',
    querystring: {
      type: 'object', additionalProperties: false,
      properties: {
        since: { type: 'string', maxLength: 40, description: 'ISO 8601 time, e.g. 2026-01-31T12:00:00Z' },
        limit: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
      },
    },
    response: { 200: { type: 'object', required: ['entries'], properties: { entries: { type: 'array', items: AUDIT_SCHEMA } } }, ...errors(400, 401, 404) },
  },
  events: {
    summary: 'Server-sent events (text/event-stream): `device` (a device row changed: {device, progress}) and `rollout` (the rollout changed: fetch /api/rollout)',
    response: { 200: { type: 'string', description: 'text/event-stream' }, ...errors(401, 404, 503) },
  },
} as const;
