/**
 * Optional FTPS (explicit `AUTH TLS`, RFC 4217): loads the certificate and private key files named in the config
 * and checks them before the server starts, so a bad file stops firmdrop with one line instead of failing the
 * first device's handshake. u-blox (`AT+UFTP=8,1`), Quectel (`AT+QFTPCFG="ssltype",2`) and Telit
 * (`AT#FTPCFG=...,<FTPSEn>`) modems can use it (each vendor's AT commands manual: u-blox SARA-R4 `+UFTP`, Quectel FTP(S) application note, Telit LE910 `#FTPCFG`).
 *
 * The result's `options` build one secure context (node:tls) that server/ftp/cmd-tls.ts uses for the control
 * connection after `AUTH TLS` and server/ftp/passive.ts for the data connections after `PROT P`.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { ConfigError } from './config.ts';

/** The certificate and key files, as configured (`--tls-cert` / `--tls-key`). */
export interface TlsFiles {
  /** PEM certificate (chain: server certificate first, then intermediates). */
  certFile: string;
  /** PEM private key, unencrypted (firmdrop starts unattended, there is no one to type a passphrase). */
  keyFile: string;
}

/** What {@link loadTls} returns: the TLS options of the FTP server plus facts for the start-up log line. */
export interface LoadedTls {
  /**
   * Options for `tls.createSecureContext()`: `cert`, `key` (Buffers) and `ticketKeys` (48 random bytes shared by
   * every context made from these options, so a client may resume the control channel's TLS session on the data
   * channel instead of a full handshake per transfer).
   */
  options: tls.SecureContextOptions;
  /** Subject of the server certificate, e.g. `CN=ota.example.com`. */
  subject: string;
  /** End of the certificate's validity. */
  validTo: Date;
}

async function readPem(what: string, file: string): Promise<Buffer> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a folder' : `cannot read it (${e.code ?? e.message})`;
    throw new ConfigError(`TLS ${what} ${file}: ${why}`);
  }
  if (buf.length === 0) throw new ConfigError(`TLS ${what} ${file}: empty file`);
  return buf;
}

/** OpenSSL's reason without its `error:0480006C:PEM routines::` prefix, on one line. */
function reason(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/^error:[0-9A-F]+:[^:]*::/i, '').split(/\r?\n/)[0]!;
}

/**
 * Reads and checks the certificate and key: each file readable and PEM, the key unencrypted, the key the
 * certificate's. Checked with `tls.createSecureContext()`, the call the FTP layer makes for `AUTH TLS`.
 * An expired certificate is loaded (the caller may warn): devices' clocks and their checks vary.
 * @throws ConfigError, one line naming the file: `TLS certificate /etc/x.pem: no such file`,
 *   `TLS key /etc/k.pem: not a PEM private key (unsupported)`,
 *   `TLS certificate /etc/x.pem and key /etc/k.pem do not match (key values mismatch)`.
 */
export async function loadTls(files: TlsFiles): Promise<LoadedTls> {
  const cert = await readPem('certificate', files.certFile);
  const key = await readPem('key', files.keyFile);
  let x509: X509Certificate;
  try {
    tls.createSecureContext({ cert });
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`TLS certificate ${files.certFile}: not a PEM certificate (${reason(err)})`);
  }
  try {
    tls.createSecureContext({ key });
  } catch (err) {
    throw new ConfigError(`TLS key ${files.keyFile}: not an unencrypted PEM private key (${reason(err)})`);
  }
  const options: tls.SecureContextOptions = { cert, key, ticketKeys: randomBytes(48) };
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new ConfigError(`TLS certificate ${files.certFile} and key ${files.keyFile} do not match (${reason(err)})`);
  }
  return { options, subject: x509.subject.replace(/\n/g, ', '), validTo: new Date(x509.validTo) };
}
