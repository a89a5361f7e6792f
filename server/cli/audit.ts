/** `firmdrop audit [--json] [--since ISO]`: the audit trail (server/fleet/audit.ts), oldest first. */
import type { Argv, CommandModule } from 'yargs';
import { type RunJob, withRoot, withStore } from './fleet-common.ts';

/** The `audit` command module (one line in server/cli.ts registers it). */
export function auditCommand(run: RunJob): CommandModule {
  return {
    command: 'audit',
    describe: 'who changed what the fleet is offered, and when',
    builder: (y: Argv) => withRoot(y)
      .option('json', { type: 'boolean', describe: 'print JSON' })
      .option('since', { type: 'string', requiresArg: true, describe: 'entries at or after this ISO 8601 time' }),
    handler: (a) => run((async () => {
      let since: string | undefined;
      if (a.since !== undefined) {
        const t = Date.parse(String(a.since));
        if (Number.isNaN(t)) throw new Error(`--since "${String(a.since)}": expected an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`);
        since = new Date(t).toISOString();
      }
      const rows = await withStore(a, (store) => store.audit(since));
      if (a.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return 0;
      }
      const lines = rows.map((r) => `${r.at}  ${r.actor}  ${r.action}${r.subject ? ` ${r.subject}` : ''}${r.detail ? `  ${r.detail}` : ''}\n    before: ${r.offerBefore ?? '-'}\n    after:  ${r.offerAfter ?? '-'}`);
      process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'no audit entries\n');
      return 0;
    })()),
  };
}
