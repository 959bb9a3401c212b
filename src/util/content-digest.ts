/**
 * What change detection compares instead of content: the settings file, the objects file and
 * each of its records are kept as a digest, and a new version is "unchanged" when its digest is
 * the same. SHA-256 (so a crafted file cannot pass for another), base64 (shorter to hold, one per
 * record, than hex).
 */
import { createHash } from 'node:crypto';

/** A string is digested as its UTF-8 bytes, so text and the bytes it was read from agree. */
export function contentDigest(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('base64');
}
