/**
 * The one error a command handler throws to answer a command with a failure reply. The dispatcher
 * (commands.ts dispatch()) turns it into the reply line `<code> <text>`; any other error becomes
 * `451 Requested action aborted: local error in processing` (RFC 959 §4.2) and is logged.
 */
export class ReplyError extends Error {
  /**
   * @param code the RFC 959 reply code (4xx or 5xx)
   * @param text the reply text: generic, never an absolute server path or an errno text
   */
  constructor(readonly code: number, readonly text: string) {
    super(`${code} ${text}`);
    this.name = 'ReplyError';
  }
}
