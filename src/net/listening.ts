/**
 * The promise of a listener that is starting: TCP and HTTP servers (`listen`) and UDP sockets
 * (`bind`) all report "could not bind" (EADDRINUSE, EACCES, EADDRNOTAVAIL) as an 'error' event
 * rather than by throwing. Until the listener is bound, that error rejects the promise; once it
 * is bound, later errors go to `laterError` (a listener's 'error' event must always have a
 * handler, or Node throws it).
 */
import type { EventEmitter } from 'node:events';

export function listening<T extends EventEmitter>(listener: T, start: (bound: () => void) => void, laterError: (error: Error) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    start(() => {
      listener.off('error', reject);
      listener.on('error', laterError);
      resolve(listener);
    });
  });
}
