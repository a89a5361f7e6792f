/**
 * The modem's own flash file system (the "download to the module" commands: SIM5215
 * `+CFTPGETFILE`, u-blox `+UFTPC=4`, Quectel `UFS:`/`RAM:`, SIM800 `FTPGETTOFS`).
 *
 * A flat map of file name → bytes with a total capacity in bytes. Names are kept as given (the
 * dialect decides how a path becomes a name). Nothing touches the host's disk.
 */

/** Thrown on a missing file, a full file system or a bad name; `reason` is machine-readable. */
export class ModuleFsError extends Error {
  readonly reason: 'notFound' | 'full' | 'badName';
  constructor(reason: ModuleFsError['reason'], message: string) {
    super(message);
    this.name = 'ModuleFsError';
    this.reason = reason;
  }
}

/** In-memory module file system with a capacity limit (bytes, default 4 MiB). */
export class ModuleFs {
  readonly capacity: number;
  private files = new Map<string, Buffer>();

  constructor(opts: { capacity?: number } = {}) {
    this.capacity = opts.capacity ?? 4 * 1024 * 1024;
  }

  /** Total bytes stored. */
  used(): number {
    let n = 0;
    for (const b of this.files.values()) n += b.length;
    return n;
  }

  /** Names of all files, sorted. */
  list(): string[] {
    return [...this.files.keys()].sort();
  }

  /** True when `name` exists. */
  has(name: string): boolean {
    return this.files.has(name);
  }

  /** Size in bytes; throws ModuleFsError('notFound'). */
  size(name: string): number {
    return this.get(name).length;
  }

  /** Whole file (a copy); throws ModuleFsError('notFound'). */
  read(name: string, offset = 0, length?: number): Buffer {
    const b = this.get(name);
    const start = Math.min(Math.max(0, offset), b.length);
    const end = length === undefined ? b.length : Math.min(b.length, start + Math.max(0, length));
    return Buffer.from(b.subarray(start, end));
  }

  /** Create/replace `name` with `data`; throws ModuleFsError('full' | 'badName'). */
  write(name: string, data: Buffer): void {
    this.checkName(name);
    const old = this.files.get(name)?.length ?? 0;
    if (this.used() - old + data.length > this.capacity) {
      throw new ModuleFsError('full', `module file system full: ${name} needs ${data.length} bytes, ${this.capacity - this.used() + old} free`);
    }
    this.files.set(name, Buffer.from(data));
  }

  /** Append to `name` (created if missing); throws ModuleFsError('full' | 'badName'). */
  append(name: string, data: Buffer): void {
    const cur = this.files.get(name) ?? Buffer.alloc(0);
    this.write(name, Buffer.concat([cur, data]));
  }

  /** Cut `name` to `length` bytes (created empty if missing). */
  truncate(name: string, length: number): void {
    const cur = this.files.get(name) ?? Buffer.alloc(0);
    this.write(name, cur.subarray(0, Math.max(0, length)));
  }

  /** Delete `name`; throws ModuleFsError('notFound'). */
  delete(name: string): void {
    if (!this.files.delete(name)) throw new ModuleFsError('notFound', `no such module file: ${name}`);
  }

  private get(name: string): Buffer {
    const b = this.files.get(name);
    if (!b) throw new ModuleFsError('notFound', `no such module file: ${name}`);
    return b;
  }

  private checkName(name: string): void {
    if (name.length === 0 || name.length > 248 || /[\x00-\x1f"]/.test(name)) {
      throw new ModuleFsError('badName', `bad module file name: ${JSON.stringify(name)} (1–248 printable characters, no quotes)`);
    }
  }
}
