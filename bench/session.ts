/**
 * One simulated device's OTA session against any FTP server, with basic-ftp as the client.
 *
 * Shape (the same for every server measured): connect, USER/PASS, TYPE I, SIZE UPGRADE.TXT,
 * RETR UPGRADE.TXT, read FILE:/SIZE: from it, SIZE <FILE>, RETR <FILE>, QUIT. Real Waspmotes split this into two
 * logins (docs/waspmote-ota.md, "Per-module sequences"); the bench keeps the single-login shape the published table was measured with.
 * basic-ftp's `access()` is not used: it adds FEAT, STRU F and OPTS UTF8, which devices do not send.
 */
import { Client, FTPError, enterPassiveModeIPv4, enterPassiveModeIPv6 } from 'basic-ftp';
import { DeviceSink, commandDelayMs, sleep, type LinkProfile } from './link.ts';

/** Where and how a device logs in. `epsv` uses EPSV instead of PASV (the default, as the modems do). */
export interface SessionTarget {
  host: string; port: number; user: string; password: string;
  epsv?: boolean;
  manifestName?: string;      // default UPGRADE.TXT
}

/** Outcome of one session. Times in ms, sizes in bytes. */
export interface SessionResult {
  ok: boolean;
  /** Whole session: from connect to the QUIT reply (or to the failure). */
  ms: number;
  /** Time of the binary's RETR alone (PASV/EPSV + RETR + transfer), when it got that far. */
  retrMs?: number;
  /** Bytes received on data connections (manifest + binary). */
  bytes: number;
  /** Why it failed: "<step>: <FTP code and text | errno>", digits beyond the code replaced by #. */
  reason?: string;
}

/** Per-session options: `timeoutMs` = basic-ftp's socket idle timeout; `signal` aborts the session. */
export interface SessionOptions { timeoutMs?: number; profile?: LinkProfile; signal?: AbortSignal }

/** "<step>: <short cause>" for an error thrown by basic-ftp or the session's own checks. */
export function failureReason(step: string, err: unknown): string {
  if (err instanceof FTPError) {
    const text = err.message.replace(/^\d{3}[ -]?/, '').replace(/\d+/g, '#').slice(0, 60);
    return `${step}: ${err.code} ${text}`.trim();
  }
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return `${step}: aborted (${e.message})`;
  if (e?.code && typeof e.code === 'string') return `${step}: ${e.code}`;
  const msg = String(e?.message ?? err).replace(/\d+/g, '#').slice(0, 60);
  return `${step}: ${msg}`;
}

/** Devices read at most the first 256 bytes of UPGRADE.TXT (docs/waspmote-ota.md, "How the devices parse UPGRADE.TXT"). */
const MANIFEST_READ_BYTES = 256;

/** Reads the labels a device needs from UPGRADE.TXT text (first occurrence, like the devices' substring search). */
function manifestLabels(text: string): { file: string; size: number } | undefined {
  const file = /FILE:([^\r\n]*)/.exec(text)?.[1];
  const size = Number(/SIZE:(\d+)/.exec(text)?.[1]);
  return file && Number.isFinite(size) ? { file, size } : undefined;
}

/**
 * Runs one OTA session; never throws (failures are reported in the result). The client is always closed.
 * A manifest that says NO_FILE ends the session after UPGRADE.TXT (ok); a binary whose received size differs from
 * the SIZE label or the SIZE reply is a failure ("size mismatch").
 */
export async function runOtaSession(target: SessionTarget, opts: SessionOptions = {}): Promise<SessionResult> {
  const { profile, signal } = opts;
  const client = new Client(opts.timeoutMs ?? 30_000);
  client.prepareTransfer = target.epsv ? enterPassiveModeIPv6 : enterPassiveModeIPv4;
  const onAbort = () => client.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  const t0 = performance.now();
  let bytes = 0;
  let retrMs: number | undefined;
  let step = 'connect';
  const wait = async () => { if (profile) await sleep(commandDelayMs(profile), signal); };
  const fail = (err: unknown): SessionResult => ({
    ok: false, ms: performance.now() - t0, bytes, retrMs,
    reason: signal?.aborted ? `${step}: aborted (${String((signal.reason as Error)?.message ?? signal.reason)})` : failureReason(step, err),
  });
  try {
    await wait();
    await client.connect(target.host, target.port);
    step = 'login'; await wait();
    await client.login(target.user, target.password);
    step = 'TYPE I'; await wait();
    await client.send('TYPE I');
    const manifestName = target.manifestName ?? 'UPGRADE.TXT';
    step = `SIZE ${manifestName}`; await wait();
    const manifestSize = await client.size(manifestName);
    step = `RETR ${manifestName}`; await wait();
    const manifestSink = new DeviceSink(profile, signal, MANIFEST_READ_BYTES);
    await client.downloadTo(manifestSink, manifestName);
    bytes += manifestSink.bytes;
    if (manifestSink.bytes !== manifestSize) throw new Error(`size mismatch: got ${manifestSink.bytes} of ${manifestSize}`);
    const labels = manifestLabels(manifestSink.kept().toString('latin1'));
    if (!labels) throw new Error('manifest without FILE/SIZE');
    if (labels.file !== 'NO_FILE') {
      step = `SIZE binary`; await wait();
      const size = await client.size(labels.file);
      if (size !== labels.size) throw new Error(`size mismatch: SIZE says ${size}, manifest ${labels.size}`);
      step = `RETR binary`; await wait();
      const r0 = performance.now();
      const sink = new DeviceSink(profile, signal);
      await client.downloadTo(sink, labels.file);
      retrMs = performance.now() - r0;
      bytes += sink.bytes;
      if (sink.bytes !== size) throw new Error(`size mismatch: got ${sink.bytes} of ${size}`);
    }
    step = 'QUIT'; await wait();
    await client.send('QUIT');
    return { ok: true, ms: performance.now() - t0, bytes, retrMs };
  } catch (err) {
    return fail(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.close();
  }
}
