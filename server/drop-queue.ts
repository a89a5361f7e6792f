/**
 * Binaries dropped into the root, waiting to be published: the watcher's queue, which coalesces a burst of drops.
 *
 * Only the newest drop decides what is offered (each publish offers its release, so the last one published wins).
 * Publishing every drop in turn would make the last of a burst wait for every drop before it (each publish hashes,
 * snapshots and fsyncs; tests/publish-burst.spec.ts measures the difference). So, whenever the publisher is free:
 *   1. every drop seen since the last round is taken at once; a name dropped again counts once (its newest bytes);
 *      "newest" is by the file's status-change time (ctime: set by the write or rename that landed it; unlike
 *      the mtime, `cp -p` cannot carry an old one in), not by when its size settled (under load a file that
 *      landed earlier can settle later), and a drop older than one this queue already offered is only recorded;
 *   2. the newest is published and offered first; when it changes nothing (same bytes, `ifChanged`) or is refused,
 *      the next newest is tried, so the offer is what sequential publishing would have ended with;
 *   3. the older drops of the round are "superseded": logged in one line, then recorded in the catalogue without
 *      being offered (a version each, as before), one at a time and only while no newer drop waits, so they never
 *      delay an offer. Nothing is lost: a superseded drop not yet recorded when the watcher closes stays in the root
 *      and is recorded (not offered) by the next start-up's catch-up (Publisher.catchUp).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Publisher } from './publisher.ts';
import type { PublishOptions } from './release-plan.ts';

/** Runs a publisher call, logging (never throwing) its error; resolves true when it succeeded. */
export type Tracker = (what: string, fn: () => Promise<unknown>) => Promise<boolean>;

/** The coalescing queue of one watcher (see the module comment). */
export class DropQueue {
  /** Drops not yet taken, oldest first (a name dropped again moves to the end). */
  private readonly pending = new Set<string>();
  /** Superseded drops to record without offering, oldest first. */
  private readonly backlog: string[] = [];
  private worker?: Promise<void>;
  private closed = false;
  /** Status-change time (ms, ctime) of the newest drop this queue offered; an older drop is recorded, not offered. */
  private offeredCtimeMs = -Infinity;

  /** @param run how each publisher call is run and its errors logged (the watcher's tracker) */
  constructor(private readonly publisher: Publisher, private readonly log: Logger, private readonly run: Tracker) {}

  /** A binary `name` (program name) was dropped or rewritten and is stable. */
  add(name: string): void {
    this.pending.delete(name);
    this.pending.add(name);
    this.backlog.splice(0, this.backlog.length, ...this.backlog.filter((n) => n !== name));
    this.kick();
  }

  /** Stops recording superseded drops; resolves when the round under way is done (drops already seen are offered). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.worker) await this.worker;
  }

  private kick(): void {
    this.worker ??= this.drain().finally(() => { this.worker = undefined; });
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.pending.size) {
        const names = [...this.pending];
        this.pending.clear();
        await this.round(names);
      } else if (this.backlog.length && !this.closed) {
        const name = this.backlog.shift()!;
        await this.run(`record ${name}`, () => this.publisher.publish(name, { ifChanged: true, offer: false }));
      } else return;
    }
  }

  /** Offers the newest of `names` (by ctime) that changes the offer; queues the older ones as superseded. */
  private async round(taken: string[]): Promise<void> {
    const byAge = await this.byCtime(taken);
    const names = byAge.filter((d) => d.ctimeMs >= this.offeredCtimeMs).map((d) => d.name);
    const older = byAge.filter((d) => d.ctimeMs < this.offeredCtimeMs).map((d) => d.name);
    if (older.length) {
      this.log.info({ names: older }, `older than the drop offered now: ${older.join(', ')}, recorded without being offered`);
      this.backlog.push(...older);
    }
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i]!;
      if (!(await this.offer(name, { ifChanged: true }))) continue;
      this.offeredCtimeMs = byAge.find((d) => d.name === name)!.ctimeMs;
      const superseded = names.slice(0, i);
      if (superseded.length) {
        this.log.info({ names: superseded, by: name }, `superseded by ${name} before publication: ${superseded.length} older drop(s) ` +
          `(${superseded.slice(0, 5).join(', ')}${superseded.length > 5 ? ', …' : ''}), recorded without being offered`);
        this.backlog.push(...superseded);
      }
      return;
    }
  }

  /** `names` with their status-change times, oldest first (a file gone since keeps its place, it will be refused). */
  private async byCtime(names: string[]): Promise<Array<{ name: string; ctimeMs: number }>> {
    const dated = await Promise.all(names.map(async (name, order) => {
      const st = await fsp.lstat(path.join(this.publisher.root, name)).catch(() => undefined);
      return { name, order, ctimeMs: st?.ctimeMs ?? Infinity };
    }));
    dated.sort((a, b) => (a.ctimeMs === b.ctimeMs ? a.order - b.order : a.ctimeMs - b.ctimeMs));
    return dated.map(({ name, ctimeMs }) => ({ name, ctimeMs }));
  }

  /** Publishes `name`; true when UPGRADE.TXT offers that release afterwards. */
  private async offer(name: string, opts: PublishOptions): Promise<boolean> {
    let offered = false;
    await this.run(`publish ${name}`, async () => {
      const r = await this.publisher.publish(name, opts);
      const now = await this.publisher.current().catch(() => undefined);
      offered = now?.file === r.name && now.version === r.version;
    });
    return offered;
  }
}
