/**
 * Domain names on the wire (RFC 1035 §3.1, §4.1.4).
 *
 * Names inside lbdns are lowercase presentation strings without the trailing dot ('' is the root).
 * Encoded answers compress only against the question name, which always sits at offset 12: that
 * keeps every encoded record position-independent, so a record set can be reordered per response
 * without rewriting pointers.
 */
import { QUESTION_NAME_OFFSET } from './constants.ts';

export const MAX_NAME_WIRE_LENGTH = 255;
export const MAX_LABEL_LENGTH = 63;

export class NameError extends Error {}

export function splitLabels(name: string): string[] {
  return name === '' ? [] : name.split('.');
}

/** Uncompressed wire form of a presentation name. Throws NameError for names DNS cannot carry. */
export function encodeName(name: string): Buffer {
  const labels = splitLabels(name);
  const parts: Buffer[] = [];
  let length = 1;
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > MAX_LABEL_LENGTH) {
      throw new NameError(`label "${label}" of "${name}" must be 1 to ${MAX_LABEL_LENGTH} bytes`);
    }
    parts.push(Buffer.from([bytes.length]), bytes);
    length += bytes.length + 1;
  }
  if (length > MAX_NAME_WIRE_LENGTH) throw new NameError(`name "${name}" is longer than 255 bytes`);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts, length);
}

/**
 * The wire form of `name`, ending in a pointer to the longest suffix it shares with the question
 * name `qname` (both lowercase), or uncompressed when they share nothing but the root.
 */
export function encodeNameAgainst(name: string, qname: string): Buffer {
  const labels = splitLabels(name);
  const qlabels = splitLabels(qname);
  let shared = 0;
  while (
    shared < labels.length &&
    shared < qlabels.length &&
    labels[labels.length - 1 - shared] === qlabels[qlabels.length - 1 - shared]
  ) {
    shared++;
  }
  if (shared === 0) return encodeName(name);
  let suffixOffset = QUESTION_NAME_OFFSET;
  for (let i = 0; i < qlabels.length - shared; i++) suffixOffset += (qlabels[i] as string).length + 1;
  const prefix = labels.slice(0, labels.length - shared);
  const head = prefix.length === 0 ? Buffer.alloc(0) : encodeName(prefix.join('.')).subarray(0, -1);
  const pointer = Buffer.from([0xc0 | (suffixOffset >> 8), suffixOffset & 0xff]);
  return Buffer.concat([head, pointer]);
}

export interface DecodedName {
  /** Presentation form, lowercase, no trailing dot. */
  name: string;
  /** Offset just past the name where it was read (past the first pointer, if any). */
  end: number;
}

/** Scratch space for decoding: a name is at most 255 bytes on the wire. */
const scratch = Buffer.alloc(256);

/**
 * Reads a possibly compressed name. Returns null for anything malformed: reading past the end,
 * pointer loops or forward pointers, reserved label types, or more than 255 bytes. The name is
 * lowercased and assembled in one buffer, so it costs one string (this runs on every query).
 */
export function decodeName(msg: Buffer, offset: number): DecodedName | null {
  let written = 0;
  let wireLength = 0;
  let position = offset;
  let end = -1;
  let jumps = 0;
  for (;;) {
    if (position >= msg.length) return null;
    const length = msg[position] as number;
    if (length === 0) {
      if (end < 0) end = position + 1;
      return { name: written === 0 ? '' : scratch.toString('latin1', 0, written), end };
    }
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (position + 1 >= msg.length) return null;
      const target = ((length & 0x3f) << 8) | (msg[position + 1] as number);
      // Only backward pointers: this also makes every loop impossible.
      if (target >= position || ++jumps > 127) return null;
      if (end < 0) end = position + 2;
      position = target;
      continue;
    }
    if (kind !== 0) return null;
    wireLength += length + 1;
    if (wireLength + 1 > 255 || position + 1 + length > msg.length) return null;
    if (written > 0) scratch[written++] = 0x2e;
    for (let i = position + 1; i <= position + length; i++) {
      let byte = msg[i] as number;
      if (byte >= 0x41 && byte <= 0x5a) byte |= 0x20;
      // A dot inside a label becomes NUL so that the label can never be mistaken for two labels.
      else if (byte === 0x2e) byte = 0;
      scratch[written++] = byte;
    }
    position += 1 + length;
  }
}

/** Whether `name` is `zone` or below it ('' is the root, above everything). */
export function isAtOrBelow(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}

/** The longest of `zones` that `name` is at or below (the first of equal length), as CoreDNS picks a zone; undefined: none. */
export function longestZoneOf(name: string, zones: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const zone of zones) if ((best === undefined || zone.length > best.length) && isAtOrBelow(name, zone)) best = zone;
  return best;
}
