/**
 * Calls back when a file's content may have changed: a watch on its directory (an atomic
 * replace by rename, or kubelet swapping a ConfigMap's `..data` symlink, gives the path a new
 * inode that a watch on the file itself would miss), backed by a slow stat poll for filesystems
 * that drop events. Callers compare contents themselves, and check the file once more after
 * the watch is in place: a change before that is theirs to see.
 */
import { realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FileWatch {
  close(): void;
}

/**
 * What the poll compares: where the path leads (a symlink swap changes it even when the new file
 * has the old one's size and mtime), which file that is (device and inode), and its size, mtime
 * and ctime (an in-place write that restores the mtime still moves the ctime).
 */
function signature(path: string): string {
  try {
    const s = statSync(path);
    return `${realpathSync(path)}:${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

export function watchFile(path: string, onChange: () => void, onWatchError: (message: string) => void): FileWatch {
  // A check already due is not pushed back by later events: each event is followed by a check
  // that starts after it, even while events keep coming.
  let timer: NodeJS.Timeout | null = null;
  const schedule = (): void => {
    if (timer) return;
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
  let lastSignature = signature(path);
  const poll = setInterval(() => {
    const now = signature(path);
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
