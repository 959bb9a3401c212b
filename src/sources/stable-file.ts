/**
 * Whether a file has stopped changing. `kubectl get … > file` truncates the file first and writes
 * it in pieces: read half-way, it is a smaller cluster (or an empty one) that parses fine. A new
 * version is therefore read only once its inode, size and times have stayed the same for
 * SETTLE_MS, and the read is thrown away if the file it read differs from the one that settled.
 */
import { type Stats, closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';

/**
 * 250 ms: long enough for a writer's pauses between pieces (a pipe from kubectl writes as the
 * API server streams, well under this apart), short enough that an edit still shows within a
 * second with the watch's own 50 ms.
 */
export const SETTLE_MS = 250;

export function signatureOf(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

/** The path's signature now; 'missing' when it cannot be read. */
export function fileSignature(path: string): string {
  try {
    return signatureOf(statSync(path));
  } catch {
    return 'missing';
  }
}

/**
 * The file's bytes, with the signature of the file they were read from, taken after reading: if
 * it differs from the one that settled, the file changed under the read. Null when the file is
 * larger than `maxBytes` (then nothing is read). Throws what opening or reading throws.
 */
export interface FileRead {
  bytes: Buffer;
  signature: string;
}

export function readWithSignature(path: string): FileRead;
export function readWithSignature(path: string, maxBytes: number): FileRead | null;
export function readWithSignature(path: string, maxBytes = Infinity): FileRead | null {
  const fd = openSync(path, 'r');
  try {
    if (maxBytes !== Infinity && fstatSync(fd).size > maxBytes) return null;
    const bytes = readFileSync(fd);
    return { bytes, signature: signatureOf(fstatSync(fd)) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Calls `onStable` with the file's signature once it has stayed the same for `settleMs`.
 * `changed()` (a watch event) starts waiting; while waiting, further events change nothing: the
 * comparison at the end of the wait sees any change, and then waits again from that moment.
 */
export class SettleTimer {
  private readonly path: string;
  private readonly settleMs: number;
  private readonly onStable: (signature: string) => void;
  private timer: NodeJS.Timeout | null = null;

  constructor(path: string, onStable: (signature: string) => void, settleMs = SETTLE_MS) {
    this.path = path;
    this.onStable = onStable;
    this.settleMs = settleMs;
  }

  changed(): void {
    if (this.timer === null) this.wait(fileSignature(this.path));
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private wait(before: string): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = fileSignature(this.path);
      if (now === before) this.onStable(now);
      else this.wait(now);
    }, this.settleMs);
  }
}
