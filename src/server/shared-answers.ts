/**
 * The fixed answers (those every client gets alike) of all serving threads, in one
 * SharedArrayBuffer: the primary writes them, every thread reads them. Without it each serving
 * worker kept its own copy of every fixed answer it had served, about 0.7 KiB of heap each
 * (heap snapshot: 6 MiB of a worker's heap after 9,000 names at 10,000 Services), beside the
 * primary's copy of the same answers.
 *
 * Layout: question sets (4 ways each, a way is [seq, entry offset + 1]) and an arena of entries
 * cut into segments. An entry is its header (key, lengths, rcode, counts, zone, its way), the
 * question as `writeQuestionKey` writes it (lowercased name, type), then the records.
 *
 * One writer (the primary's handler), any number of readers, no locks. The writer changes a way
 * as a seqlock: seq odd while it changes, then even again. A reader copies an entry's records out
 * and keeps the copy only if its way's seq did not change meanwhile: an entry's bytes are reused
 * only after its way has been cleared, so a reader that raced a change sees a new seq and counts
 * a miss (a worker then relays the query, as for any other miss).
 *
 * Bounded by the writer: arena segments are reused oldest first (what was in the segment leaves
 * the table), a full set gives up one of its ways, and entries too large for a segment's share
 * are not shared at all (the primary keeps those itself, and teaches them to workers as before).
 */
import type { FixedAnswer } from '../wire/message.ts';
import { type QuestionAt, questionKeyLength, sameQuestionBytes, writeQuestionKey } from '../wire/query.ts';

const WAYS = 4;
/** Int32s per way: its seq, then its entry's offset + 1 (0: empty). */
const WAY_INTS = 2;
const SEGMENT = 64 * 1024;
/** Arena bytes planned per answer the cache may hold: a typical fixed answer's entry is 100–300. */
const BYTES_PER_ANSWER = 320;
/** At most 256 MiB of arena, whatever answerCacheSize says: beyond it the oldest answers leave first. */
const MAX_SEGMENTS = 4096;
/** Entries larger than this are not shared: a few would empty a segment. */
const LARGEST_ENTRY = SEGMENT / 16;
const MAX_ZONES = 255;
/** Room for the zones' names, each one length byte then the name (up to 253 bytes). */
const ZONES_BYTES = MAX_ZONES * 32;
// The entry header: key u32, question length u16, records length u16, rcode u8, authoritative u8,
// zone u8, flags u8, answers u16, authority u16, additional u16, additionalAt u16, way u32.
// native/fixed_answers.cc reads entries too (and says these offsets once more).
const ENTRY_HEADER = 24;
/** Flag: the answer goes to every client as it is, no rate limit applies (the addon may send it itself). */
const AS_IS = 1;

/** What the writer keeps to find its own entry again: the way, and the offset it pointed at. */
export interface SharedRef {
  way: number;
  offset: number;
}

/** A fixed answer read from the table, valid until the next read on this thread. */
export interface SharedHit {
  fixed: FixedAnswer;
  zone: string;
}

/** What the addon reads to answer from the table itself (native/fixed_answers.h). */
export interface TableViews {
  ways: Int32Array;
  arena: Uint8Array;
}

/** What a thread needs to open the table: the memory and its shape (posted to workers). */
export interface SharedAnswersMemory {
  buffer: SharedArrayBuffer;
  sets: number;
  segments: number;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Memory for a table sized for `capacity` cached answers (settings.answerCacheSize). */
export function sharedAnswersMemory(capacity: number): SharedAnswersMemory {
  const segments = Math.min(MAX_SEGMENTS, Math.max(4, Math.ceil((capacity * BYTES_PER_ANSWER) / SEGMENT)));
  // Sets for the answers the arena can hold at all.
  const answers = Math.min(capacity, (segments * SEGMENT) / BYTES_PER_ANSWER);
  let sets = 1;
  while (sets * WAYS < answers) sets *= 2;
  // Only the pages written to become resident: the arena fills segment by segment.
  const buffer = new SharedArrayBuffer(4 + sets * WAYS * WAY_INTS * 4 + ZONES_BYTES + segments * SEGMENT);
  return { buffer, sets, segments };
}

export class SharedAnswers {
  private readonly ways: Int32Array;
  private readonly zoneCount: Int32Array;
  private readonly zoneBytes: Uint8Array;
  private readonly arena: Buffer;
  private readonly setMask: number;
  private readonly segments: number;
  /** Zone names by index, as far as this thread has read them. */
  private readonly zones: string[] = [];
  // The writer's own state (only the primary writes).
  private readonly zoneIndex = new Map<string, number>();
  private readonly victims: Uint8Array;
  /** Bytes written into each segment since it was last emptied. */
  private readonly segmentUsed: Int32Array;
  private segment = 0;
  /** Where a reader copies an entry's records before it trusts them. */
  private readonly scratch = Buffer.allocUnsafeSlow(LARGEST_ENTRY);

  constructor(memory: SharedAnswersMemory) {
    const { buffer, sets, segments } = memory;
    const wayInts = sets * WAYS * WAY_INTS;
    this.zoneCount = new Int32Array(buffer, 0, 1);
    this.ways = new Int32Array(buffer, 4, wayInts);
    this.zoneBytes = new Uint8Array(buffer, 4 + wayInts * 4, ZONES_BYTES);
    this.arena = Buffer.from(buffer, 4 + wayInts * 4 + ZONES_BYTES, segments * SEGMENT);
    this.setMask = sets - 1;
    this.segments = segments;
    this.victims = new Uint8Array(sets);
    this.segmentUsed = new Int32Array(segments);
  }

  // ---- readers (any thread) ----

  /** The table's ways and arena, for the addon. */
  get views(): TableViews {
    return { ways: this.ways, arena: this.arena };
  }

  /** The fixed answer to the question `msg` asks, when the table holds it; null otherwise or when it changed meanwhile. */
  read(msg: Buffer, at: QuestionAt): SharedHit | null {
    const first = (at.key & this.setMask) * WAYS;
    const arena = this.arena;
    for (let way = first; way < first + WAYS; way++) {
      const seq = Atomics.load(this.ways, way * WAY_INTS);
      if ((seq & 1) !== 0) continue;
      const offset = Atomics.load(this.ways, way * WAY_INTS + 1) - 1;
      if (offset < 0 || offset + ENTRY_HEADER > arena.length) continue;
      if (arena.readUInt32LE(offset) !== at.key) continue;
      const questionLength = arena.readUInt16LE(offset + 4);
      const recordsLength = arena.readUInt16LE(offset + 6);
      const recordsAt = offset + ENTRY_HEADER + questionLength;
      if (recordsLength > LARGEST_ENTRY || recordsAt + recordsLength > arena.length) continue;
      if (!sameQuestionBytes(msg, at.questionEnd, arena, offset + ENTRY_HEADER, questionLength)) continue;
      arena.copy(this.scratch, 0, recordsAt, recordsAt + recordsLength);
      const rcode = arena[offset + 8] as number;
      const authoritative = arena[offset + 9] === 1;
      const zoneAt = arena[offset + 10] as number;
      const answers = arena.readUInt16LE(offset + 12);
      const authority = arena.readUInt16LE(offset + 14);
      const additional = arena.readUInt16LE(offset + 16);
      const additionalAt = arena.readUInt16LE(offset + 18);
      // Changed while it was read (released, replaced): a miss, never a mix of two answers.
      if (Atomics.load(this.ways, way * WAY_INTS) !== seq) return null;
      const zone = this.zoneAt(zoneAt);
      if (zone === null || additionalAt > recordsLength) return null;
      const records = this.scratch.subarray(0, recordsLength);
      return { fixed: { rcode, authoritative, records, answers, authority, additional, additionalAt }, zone };
    }
    return null;
  }

  /** The name of the zone the table numbered `index`, as far as the writer has published it. */
  zoneAt(index: number): string | null {
    if (index >= this.zones.length) {
      const count = Atomics.load(this.zoneCount, 0);
      let at = 0;
      for (let i = 0; i < count; i++) {
        const length = this.zoneBytes[at] as number;
        if (i >= this.zones.length) this.zones.push(Buffer.from(this.zoneBytes.buffer, this.zoneBytes.byteOffset + at + 1, length).toString('latin1'));
        at += 1 + length;
      }
    }
    return this.zones[index] ?? null;
  }

  // ---- the writer (the primary's handler) ----

  /**
   * Keeps `fixed` as the answer to the question of `msg`, replacing what the table held for it;
   * `asIs`: it goes to every client as it is (no rate limit), so the addon may send it itself.
   * Returns where, so the writer can check and release it; null when it is not shared.
   */
  put(msg: Buffer, at: QuestionAt, fixed: FixedAnswer, zone: string, asIs: boolean): SharedRef | null {
    const questionLength = questionKeyLength(at.questionEnd);
    const recordsLength = fixed.records.length;
    const size = align8(ENTRY_HEADER + questionLength + recordsLength);
    if (size > LARGEST_ENTRY) return null;
    const zoneAt = this.zoneIndexOf(zone);
    if (zoneAt === null) return null;
    const set = at.key & this.setMask;
    const way = this.wayFor(set, msg, at);
    this.clear(way);
    const offset = this.allocate(size);
    const arena = this.arena;
    arena.writeUInt32LE(at.key >>> 0, offset);
    arena.writeUInt16LE(questionLength, offset + 4);
    arena.writeUInt16LE(recordsLength, offset + 6);
    arena[offset + 8] = fixed.rcode;
    arena[offset + 9] = fixed.authoritative ? 1 : 0;
    arena[offset + 10] = zoneAt;
    arena[offset + 11] = asIs ? AS_IS : 0;
    arena.writeUInt16LE(fixed.answers, offset + 12);
    arena.writeUInt16LE(fixed.authority, offset + 14);
    arena.writeUInt16LE(fixed.additional, offset + 16);
    arena.writeUInt16LE(fixed.additionalAt, offset + 18);
    arena.writeUInt32LE(way, offset + 20);
    writeQuestionKey(msg, at.questionEnd, arena, offset + ENTRY_HEADER);
    fixed.records.copy(arena, offset + ENTRY_HEADER + questionLength);
    const seqAt = way * WAY_INTS;
    const seq = this.ways[seqAt] as number;
    Atomics.store(this.ways, seqAt, seq + 1);
    Atomics.store(this.ways, seqAt + 1, offset + 1);
    Atomics.store(this.ways, seqAt, seq + 2);
    return { way, offset };
  }

  /** The records of the writer's own entry, while the table still holds it there; null once it left. */
  recordsOf(ref: SharedRef): Buffer | null {
    if (this.ways[ref.way * WAY_INTS + 1] !== ref.offset + 1) return null;
    const questionLength = this.arena.readUInt16LE(ref.offset + 4);
    const start = ref.offset + ENTRY_HEADER + questionLength;
    return this.arena.subarray(start, start + this.arena.readUInt16LE(ref.offset + 6));
  }

  /** Whether the writer's entry is still there. */
  holds(ref: SharedRef): boolean {
    return this.ways[ref.way * WAY_INTS + 1] === ref.offset + 1;
  }

  /** The writer dropped its answer (a view change, eviction): readers stop finding it. */
  release(ref: SharedRef): void {
    if (this.holds(ref)) this.clear(ref.way);
  }

  /** Every answer leaves (a change to everything, a reload). */
  releaseAll(): void {
    for (let way = 0; way < this.victims.length * WAYS; way++) this.clear(way);
  }

  private clear(way: number): void {
    const seqAt = way * WAY_INTS;
    if (this.ways[seqAt + 1] === 0) return;
    const seq = this.ways[seqAt] as number;
    Atomics.store(this.ways, seqAt, seq + 1);
    Atomics.store(this.ways, seqAt + 1, 0);
    Atomics.store(this.ways, seqAt, seq + 2);
  }

  /** The way that holds this question already, else an empty one, else the set's next victim. */
  private wayFor(set: number, msg: Buffer, at: QuestionAt): number {
    const first = set * WAYS;
    let empty = -1;
    for (let way = first; way < first + WAYS; way++) {
      const offset = (this.ways[way * WAY_INTS + 1] as number) - 1;
      if (offset < 0) {
        if (empty < 0) empty = way;
        continue;
      }
      if (this.arena.readUInt32LE(offset) === at.key >>> 0 && sameQuestionBytes(msg, at.questionEnd, this.arena, offset + ENTRY_HEADER, this.arena.readUInt16LE(offset + 4))) return way;
    }
    if (empty >= 0) return empty;
    const victim = this.victims[set] as number;
    this.victims[set] = (victim + 1) % WAYS;
    return first + victim;
  }

  /** Room for `size` bytes in the current segment, else in the next one, whose entries leave first. */
  private allocate(size: number): number {
    let used = this.segmentUsed[this.segment] as number;
    if (used + size > SEGMENT) {
      this.segment = (this.segment + 1) % this.segments;
      this.evictSegment(this.segment);
      used = 0;
    }
    this.segmentUsed[this.segment] = used + size;
    return this.segment * SEGMENT + used;
  }

  /** Clears the ways that still point into `segment`, walking its entries by their sizes. */
  private evictSegment(segment: number): void {
    const arena = this.arena;
    const end = segment * SEGMENT + (this.segmentUsed[segment] as number);
    for (let at = segment * SEGMENT; at < end; ) {
      const way = arena.readUInt32LE(at + 20);
      if (this.ways[way * WAY_INTS + 1] === at + 1) this.clear(way);
      at += align8(ENTRY_HEADER + arena.readUInt16LE(at + 4) + arena.readUInt16LE(at + 6));
    }
    this.segmentUsed[segment] = 0;
  }

  private zoneIndexOf(zone: string): number | null {
    const known = this.zoneIndex.get(zone);
    if (known !== undefined) return known;
    const count = this.zoneIndex.size;
    let at = 0;
    for (let i = 0; i < count; i++) at += 1 + (this.zoneBytes[at] as number);
    const bytes = Buffer.from(zone, 'latin1');
    if (count >= MAX_ZONES || bytes.length > 253 || at + 1 + bytes.length > ZONES_BYTES) return null;
    this.zoneBytes[at] = bytes.length;
    this.zoneBytes.set(bytes, at + 1);
    this.zoneIndex.set(zone, count);
    this.zones[count] = zone;
    Atomics.store(this.zoneCount, 0, count + 1);
    return count;
  }
}
