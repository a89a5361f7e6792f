/**
 * JSON schemas of the operator API's routes (JSON Schema draft 7, as fastify validates them with Ajv); the OpenAPI
 * document at `/api/openapi.json` is generated from these by @fastify/swagger.
 */
import { ERROR_SCHEMA } from './errors.ts';

const PROGRAM_NAME = { type: 'string', pattern: '^[A-Za-z0-9_]{7}$', description: 'program name: exactly 7 letters, digits or _' } as const;
const VERSION = { type: 'integer', minimum: 1, maximum: 255, description: 'VERSION, 1..255 (one byte on the device)' } as const;

/** UPGRADE.TXT's fields (server/manifest.ts Manifest); `file` is NO_FILE when no update is offered. */
export const MANIFEST_SCHEMA = {
  type: 'object',
  required: ['file', 'path', 'size', 'version'],
  properties: {
    file: { type: 'string' }, path: { type: 'string' }, size: { type: 'integer', description: 'bytes' },
    version: { type: 'integer' }, crc32: { type: 'string' }, md5: { type: 'string' },
  },
} as const;

/** One release (server/catalog.ts Release). */
export const RELEASE_SCHEMA = {
  type: 'object',
  required: ['name', 'version', 'size', 'crc32', 'md5', 'publishedAt'],
  properties: {
    name: { type: 'string' }, version: { type: 'integer' }, size: { type: 'integer', description: 'bytes' },
    crc32: { type: 'string' }, md5: { type: 'string' }, publishedAt: { type: 'string', format: 'date-time' },
  },
} as const;

/** A session: its CSRF token, and whether the fleet routes work (false with --no-fleet). */
const SESSION_RESPONSE = {
  type: 'object', required: ['csrfToken', 'fleet'],
  properties: { csrfToken: { type: 'string' }, fleet: { type: 'boolean', description: 'false with --no-fleet: rollouts, devices and audit answer 404/409' } },
} as const;

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ERROR_SCHEMA]));

/** What is offered now: the manifest (null when the root has none yet) and its exact text. */
export const OFFER_RESPONSE = {
  type: 'object',
  required: ['manifest', 'text'],
  properties: { manifest: { anyOf: [MANIFEST_SCHEMA, { type: 'null' }] }, text: { type: 'string' } },
} as const;

/** Route schemas, by route. */
export const SCHEMAS = {
  login: {
    summary: 'Log in as the operator; sets the session cookie and returns the CSRF token for changes',
    body: { type: 'object', required: ['password'], additionalProperties: false, properties: { password: { type: 'string', maxLength: 1024 } } },
    response: { 200: SESSION_RESPONSE, ...errors(400, 401, 503) },
  },
  session: {
    summary: 'The current session: its CSRF token (401 when not logged in)',
    response: { 200: SESSION_RESPONSE, ...errors(401) },
  },
  logout: {
    summary: 'End the session (needs the CSRF token)',
    response: { 204: { type: 'null' }, ...errors(401, 403) },
  },
  offer: {
    summary: 'What UPGRADE.TXT offers now',
    response: { 200: OFFER_RESPONSE, ...errors(401) },
  },
  releases: {
    summary: 'The releases (sizes and checksums) and the binaries in the root that can be selected',
    response: {
      200: {
        type: 'object', required: ['releases', 'binaries'],
        properties: {
          releases: { type: 'array', items: RELEASE_SCHEMA },
          binaries: { type: 'array', items: { type: 'object', required: ['name', 'size'], properties: { name: { type: 'string' }, size: { type: 'integer' } } } },
        },
      },
      ...errors(401),
    },
  },
  upload: {
    summary: 'Upload a binary (raw body, application/octet-stream) and publish it with the next or the given VERSION',
    querystring: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: PROGRAM_NAME, version: VERSION } },
    response: { 201: { type: 'object', required: ['release', 'offer'], properties: { release: RELEASE_SCHEMA, offer: OFFER_RESPONSE } }, ...errors(400, 401, 403, 409, 413) },
  },
  select: {
    summary: 'Offer a binary already in the root (its latest release, or the given VERSION)',
    body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: PROGRAM_NAME, version: VERSION } },
    response: { 200: { type: 'object', required: ['release', 'offer'], properties: { release: RELEASE_SCHEMA, offer: OFFER_RESPONSE } }, ...errors(400, 401, 403, 404, 409) },
  },
  noFile: {
    summary: 'Offer no update (FILE:NO_FILE)',
    response: { 200: { type: 'object', required: ['offer'], properties: { offer: OFFER_RESPONSE } }, ...errors(401, 403) },
  },
} as const;
