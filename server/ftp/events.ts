/**
 * Session events (hooks.ts SessionEvent): the one code path that tells both the session log (../log.ts
 * SessionLog: one line per login, fetch, fetch end and session end) and the caller's FtpHooks.onEvent.
 */
import type { FetchLog, SessionLog } from '../log.ts';
import { ANONYMOUS_NAMES } from '../users.ts';
import type { ServerContext } from './context.ts';
import type { SessionEvent } from './hooks.ts';

/** What notify() needs of a session. */
export interface EventSink {
  readonly ctx: ServerContext;
  readonly log: SessionLog;
  /** The session log's record of the RETR running now (set by fetch-start, ended by fetch-end). */
  fetchLog?: FetchLog;
}

/** Extra detail for the session log only (never part of the event): a refused login's throttle, a fetch's reason. */
export interface LogDetail {
  throttle?: { failures: number; delayMs: number };
  reason?: string;
  anonymous?: boolean;
  /** A fetch's virtual path for the log line (`/NAME`, `/UPGRADE.TXT`); the event names the program. */
  path?: string;
  /** Log it, but do not tell FtpHooks.onEvent: a RETR of UPGRADE.TXT is a `manifest-read`, not a binary fetch. */
  logOnly?: boolean;
}

let onEventFailedLogged = false;

/** Logs `e` in the session log and hands it to FtpHooks.onEvent (a throw there is caught and logged once). */
export function notify(s: EventSink, e: SessionEvent, detail: LogDetail = {}): void {
  switch (e.type) {
    case 'login':
      s.log.login(e.login, detail.anonymous ?? (e.kind === 'shared' && ANONYMOUS_NAMES.includes(e.login.toLowerCase())));
      break;
    case 'login-failed':
      s.log.loginRefused(e.user, detail.throttle);
      break;
    case 'fetch-start':
      s.fetchLog = s.log.fetch(detail.path ?? e.name, e.offset, e.size);
      break;
    case 'fetch-end': {
      const f = s.fetchLog;
      s.fetchLog = undefined;
      if (f) {
        f.addBytes(e.bytes - f.bytes);
        f.end(e.outcome === 'completed' ? 'completed' : 'cut short', detail.reason);
      }
      break;
    }
    case 'disconnect':
      s.log.end(detail.reason ?? 'client closed');
      break;
    default:
      break;
  }
  const onEvent = s.ctx.hooks.onEvent;
  if (!onEvent || detail.logOnly) return;
  try {
    onEvent(e);
  } catch (err) {
    if (!onEventFailedLogged) s.ctx.log.error({ err: (err as Error)?.message }, 'FtpHooks.onEvent threw (logged once)');
    onEventFailedLogged = true;
  }
}
