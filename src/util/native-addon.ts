/**
 * lbdns's native addon (native/, binding.gyp: build/Release/lbdns_native.node), loaded once per
 * thread: worker threads each load it. It is optional: without a compiler at install time it is
 * not built, and lbdns does without it (UDP through node:dgram, freed memory left to malloc).
 */
import { createRequire } from 'node:module';
import { packageRoot } from './package-root.ts';

/** What the addon exports (native/lbdns_native.cc registers them). */
export interface NativeAddon {
  /** native/udp_batch.cc's socket class; its user, server/udp-batch.ts, declares its shape. */
  readonly UdpBatch: unknown;
  /**
   * native/release_memory.cc: glibc's malloc_trim(0), which gives every whole free page malloc
   * holds back to the kernel. True when it gave some back; false when there was none, or without
   * glibc (musl), where it does nothing.
   */
  releaseFreedMemory(): boolean;
}

let loaded: NativeAddon | Error | undefined;

/** The addon, loaded once per thread, or why it cannot be. */
export function loadNativeAddon(): NativeAddon | Error {
  if (loaded === undefined) {
    try {
      const load = createRequire(import.meta.url)('node-gyp-build') as (root: string) => NativeAddon;
      loaded = load(packageRoot());
    } catch (error) {
      loaded = error instanceof Error ? error : new Error(String(error));
    }
  }
  return loaded;
}

/**
 * The addon's releaseFreedMemory, or null when the addon cannot load (its absence is for whoever
 * needs its UDP I/O to say) or was built before it had one.
 */
export function freedMemoryRelease(): (() => boolean) | null {
  const addon = loadNativeAddon();
  if (addon instanceof Error || typeof addon.releaseFreedMemory !== 'function') return null;
  return () => addon.releaseFreedMemory();
}
