/**
 * JSON errors of the operator API: `{ "error": "<one line a person can act on>" }` with the status that says what
 * kind of problem it is (RFC 9110 §15): 400 bad input (name, version, body), 401 not logged in or wrong password,
 * 403 CSRF token missing or wrong, 404 no such binary, 409 VERSION not higher than one already published or a file
 * that changed while it was checked, or a rollout action its rules refuse (server/fleet/rollouts.ts: one rollout at a
 * time, expand never shrinks, pause only when active...), 413 too large, 503 busy or not configured. A refused device
 * change (server/fleet/devices.ts) is 400, or 404 for a login that does not exist.
 */
import type { FastifyReply } from 'fastify';
import { CatalogError } from '../catalog.ts';
import { PublishError } from '../publisher.ts';
import { DeviceError } from '../fleet/devices.ts';
import { RolloutError } from '../fleet/rollouts.ts';

/** An API error to answer with `status` and `message`. */
export class ApiError extends Error {
  readonly status: number;
  /** @param status HTTP status code; @param message one line for the operator */
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The HTTP status of a publisher or catalogue refusal (their messages are already one line for the operator). */
export function statusOf(e: PublishError | CatalogError): number {
  if (e instanceof CatalogError) return e.code === 'version-not-higher' ? 409 : 400;
  switch (e.code) {
    case 'bad-name': case 'empty': return 400;
    case 'not-found': case 'not-regular': return 404;
    case 'too-large': return 413;
    case 'unstable': return 409;
    case 'busy': return 503;
  }
}

/**
 * Answers `e` as a JSON error when it is one the operator can act on (ApiError, PublishError, CatalogError,
 * RolloutError, DeviceError) and
 * returns true; false for anything else (the caller logs it and answers 500).
 */
export function sendKnownError(reply: FastifyReply, e: unknown): boolean {
  if (e instanceof ApiError) {
    void reply.code(e.status).send({ error: e.message });
    return true;
  }
  if (e instanceof RolloutError) {
    void reply.code(409).send({ error: e.message });
    return true;
  }
  if (e instanceof DeviceError) {
    void reply.code(/^no device login /.test(e.message) ? 404 : 400).send({ error: e.message });
    return true;
  }
  if (e instanceof PublishError || e instanceof CatalogError) {
    void reply.code(statusOf(e)).send({ error: e.message });
    return true;
  }
  return false;
}

/** One Ajv validation error as fastify reports it (`FastifyError.validation`). */
interface ValidationItem { instancePath?: string; keyword?: string; params?: Record<string, unknown>; message?: string }

/** What each API field must be, for messages a person can act on (rules from server/manifest.ts and catalog.ts). */
const FIELD_RULES: Record<string, string> = {
  name: 'the program name is exactly 7 letters, digits or _ (the name the Waspmote IDE exports, e.g. SENSOR1)',
  version: 'VERSION is a whole number from 1 to 255 (one byte on the device; 0 is NO_FILE); leave it empty for the next one',
  password: 'send the admin password as {"password": "..."}',
};

/** One line for a request that failed schema validation: the field and its rule. */
export function validationMessage(items: readonly ValidationItem[] | undefined, fallback: string): string {
  const first = items?.[0];
  if (!first) return fallback;
  const missing = typeof first.params?.missingProperty === 'string' ? first.params.missingProperty : undefined;
  const field = missing ?? first.instancePath?.replace(/^\//, '') ?? '';
  const rule = FIELD_RULES[field];
  if (missing) return `${missing} is required${rule ? `: ${rule}` : ''}`;
  if (rule) return `${field}: ${rule}`;
  return field ? `${field}: ${first.message ?? 'not valid'}` : fallback;
}

/** Schema of every error body, for the OpenAPI document. */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string', description: 'what went wrong and what to do, one line' } },
} as const;
