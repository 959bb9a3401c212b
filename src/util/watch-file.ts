/**
 * Calls back when a file's content may have changed: a watch on its directory (an atomic
 * replace by rename, or kubelet swapping a ConfigMap's `..data` symlink, gives the path a new
 * inode that a watch on the file itself would miss), backed by a slow stat poll for filesystems
 * that drop events. Callers compare contents themselves.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FileWatch {
  close(): void;
}

export function watchFile(path: string, onChange: () => void, onWatchError: (message: string) => void): FileWatch {
  let timer: NodeJS.Timeout | null = null;
  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, 50);
  };
  const name = basename(path);
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name || changed.startsWith('..')) schedule();
    });
    watcher.on('error', (error) => onWatchError(error.message));
  } catch (error) {
    onWatchError((error as Error).message);
  }
  const signature = (): string => {
    try {
      const s = statSync(path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  let lastSignature = signature();
  const poll = setInterval(() => {
    const now = signature();
    if (now !== lastSignature) {
      lastSignature = now;
      schedule();
    }
  }, 1000);
  poll.unref();
  return {
    close() {
      watcher?.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
    },
  };
}
