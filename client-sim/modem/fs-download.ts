/**
 * Download into the module file system, shared by the dialects that store files on the module (u-blox `+UFTPC=4`
 * and op 100, Quectel `+QFTPGET` to `UFS:`/`RAM:`). Bytes are appended as they arrive, so a transfer that fails
 * midway leaves the received prefix stored: that is what u-blox retrieving_mode 1 and Quectel `<startpos>`
 * resume from (u-blox SARA-R4 AT manual UBX-17003787 R16 p.259; Quectel UC15 FTP manual `+QFTPGET`).
 */
import type { Download } from './ftp-session.ts';
import type { ModuleFs } from './module-fs.ts';

/**
 * Moves everything `dl` receives into `fs` file `name` (appending), calling `onProgress(storedBytes)` after each
 * append. Resolves with the number of bytes appended once the download completed and was drained; rejects with
 * the download's FtpFailure (after storing what arrived) or with a ModuleFsError when the file system is full.
 * `pollMs` bounds each wait for new data (the download's own timeout decides about stalls).
 */
export async function downloadToModuleFs(dl: Download, fs: ModuleFs, name: string,
  onProgress?: (stored: number) => void, pollMs = 1000): Promise<number> {
  let appended = 0;
  for (;;) {
    if (dl.available > 0) {
      const chunk = dl.read(dl.available);
      try {
        fs.append(name, chunk);
      } catch (err) {
        dl.abort('module file system error');
        throw err;
      }
      appended += chunk.length;
      onProgress?.(fs.size(name));
      continue;
    }
    if (dl.failure) throw dl.failure;
    if (dl.complete) return appended;
    await dl.waitChange(pollMs);
  }
}
