/**
 * Receives an uploaded binary (the raw request body, `Content-Type: application/octet-stream`) into a temp file in
 * `<root>/.firmdrop/uploads/` (a dot-folder devices never see, on the root's file system), with a size cap. The
 * publisher then imports it (copy, verify, rename into the root, publish: server/publisher.ts importBinary).
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempPath } from '../atomic-file.ts';
import { CATALOG_DIR } from '../catalog.ts';
import { ApiError } from './errors.ts';

/** Folder inside CATALOG_DIR for uploads being received. */
export const UPLOADS_DIR = 'uploads';

/** The uploads folder of `root`. */
export function uploadsDir(root: string): string {
  return path.join(root, CATALOG_DIR, UPLOADS_DIR);
}

/** Removes what interrupted uploads left (called when the HTTP server starts; nothing else writes there). */
export async function clearUploads(root: string): Promise<void> {
  await fsp.rm(uploadsDir(root), { recursive: true, force: true });
}

/**
 * Writes `body` to a new temp file and returns its path; the caller removes it.
 * @param maxBytes the cap, bytes; `declared` the request's Content-Length when it had one
 * @throws ApiError 413 when the body is (or says it is) over `maxBytes`, 400 when it is empty; the file is removed
 */
export async function receiveUpload(root: string, name: string, body: Readable, maxBytes: number, declared?: number): Promise<string> {
  if (declared !== undefined && declared > maxBytes) {
    body.resume();
    throw tooLarge(declared, maxBytes);
  }
  const dir = uploadsDir(root);
  await fsp.mkdir(dir, { recursive: true });
  const file = tempPath(dir, name);
  let bytes = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) cb(tooLarge(bytes, maxBytes));
      else cb(null, chunk);
    },
  });
  try {
    await pipeline(body, cap, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    if (bytes === 0) throw new ApiError(400, `${name}: the upload is empty (0 bytes); choose the binary exported by the IDE`);
    return file;
  } catch (e) {
    await fsp.rm(file, { force: true });
    if (e instanceof ApiError) throw e;
    throw new ApiError(400, `${name}: the upload was interrupted (${(e as Error).message}); nothing was published`);
  }
}

function tooLarge(bytes: number, max: number): ApiError {
  return new ApiError(413, `the upload is over ${max} bytes (got ${bytes} or more), the most this server takes: is it the firmware binary?`);
}
