/**
 * An upstream response rebuilt before lbdns caches or relays it, as recursive servers scrub what
 * they are told (Unbound's scrubber, BIND's minimal-responses no-auth-recursive):
 *
 * - answer: records owned by the question name or a name on its CNAME/DNAME chain, of the asked
 *   type (or CNAME, DNAME, RRSIG);
 * - authority: only records of the answer's own zone, as the response proves it: the SOA of a
 *   negative answer (owned by an ancestor of the name the chain ends at), or the signer of the
 *   answer's RRSIGs; there NS, NSEC, NSEC3 and RRSIG records are kept, everything else dropped;
 * - additional: A/AAAA (and RRSIG) glue for names the kept NS, MX and SRV records point at, and
 *   one OPT record;
 * - never anything owned by a name inside lbdns's own cluster zones, nor inside a reverse zone
 *   unless the question itself is there (reverse.fallthrough sends unknown reverse names upstream).
 *
 * The message is written anew: the question as lbdns asked it, every name decompressed and
 * compressed again only against the question (so no pointer refers to bytes that are gone, and
 * records stay valid under any question of the same length), TTLs with the top bit set read as 0
 * (RFC 2181 §8) and capped at `maxTtl`. Work is linear in the message's size.
 */
import { CLASS_ANY, Flag, HEADER_SIZE, QUESTION_NAME_OFFSET, RRType } from '../wire/constants.ts';
import { MAX_NAME_WIRE_LENGTH, decodeName, isAtOrBelow, splitLabels } from '../wire/name.ts';
import { type RecordPosition, readRecord } from '../wire/record-walker.ts';
import { NAMES_IN_RDATA } from '../wire/relocate.ts';

export interface ScrubRules {
  /** Cluster zones: no upstream record for a name in them is ever relayed. */
  clusterZones: readonly string[];
  /** Reverse zones: records for names in them are relayed only when the question is in the same zone. */
  reverseZones: readonly string[];
  /** The longest TTL relayed (cache.maxTtl). */
  maxTtl: number;
}

/** What lbdns asked. */
export interface Asked {
  /** The question's bytes as lbdns sent them: name, type, class. */
  question: Buffer;
  /** Lowercase, as decodeName reads it. */
  qname: string;
  qtype: number;
  qclass: number;
}

/** CNAME/DNAME links followed at most (resolvers give up around 8 to 16). */
const MAX_CHAIN = 16;
const MAX_MESSAGE = 65535;

/** A TTL as RFC 2181 §8 says to read it (top bit set: 0), capped at `maxTtl`. */
export function relayedTtl(raw: number, maxTtl: number): number {
  return raw >= 0x80000000 ? 0 : Math.min(raw, maxTtl);
}

/** Whether `name` is at or below one of `zones`: a look-up per label, however many zones. */
function inAnyOf(name: string, zones: ReadonlySet<string>): boolean {
  if (zones.size === 0) return false;
  for (let at = 0; ; ) {
    if (zones.has(name.slice(at))) return true;
    const dot = name.indexOf('.', at);
    if (dot < 0) return zones.has('');
    at = dot + 1;
  }
}

interface Parsed extends RecordPosition {
  section: 0 | 1 | 2;
}

/** The labels of a (possibly compressed) name, byte for byte, letter case kept. */
function wireLabels(msg: Buffer, offset: number): Buffer[] | null {
  if (decodeName(msg, offset) === null) return null;
  const labels: Buffer[] = [];
  let position = offset;
  for (;;) {
    const length = msg[position] as number;
    if (length === 0) return labels;
    if ((length & 0xc0) === 0xc0) {
      position = ((length & 0x3f) << 8) | (msg[position + 1] as number);
      continue;
    }
    labels.push(msg.subarray(position + 1, position + 1 + length));
    position += 1 + length;
  }
}

/** A label compared as decodeName compares it: ASCII lowercase, a dot inside a label as NUL. */
function labelKey(label: Buffer): string {
  let key = '';
  for (const byte of label) key += String.fromCharCode(byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte === 0x2e ? 0 : byte);
  return key;
}

/** Writes names compressed against the question (at offset 12) or in full. */
class NameWriter {
  private readonly msg: Buffer;
  private readonly qlabels: string[];
  /**
   * Names already written, by where their labels start once leading pointers are followed (so
   * the same bytes) and compression: a thousand records that point at one owner cost one.
   */
  private readonly written = new Map<number, Buffer>();
  /** Offset of the question's suffix that has `i` labels left off its front. */
  private readonly suffixOffsets: number[];

  constructor(msg: Buffer, qname: string) {
    this.msg = msg;
    this.qlabels = splitLabels(qname);
    this.suffixOffsets = [];
    let at = QUESTION_NAME_OFFSET;
    for (const label of this.qlabels) {
      this.suffixOffsets.push(at);
      at += label.length + 1;
    }
  }

  /** The name at `offset` of the message, already checked by decodeName; null if it is not. */
  writeAt(offset: number, compress: boolean): Buffer | null {
    let start = offset;
    while (((this.msg[start] as number) & 0xc0) === 0xc0) start = (((this.msg[start] as number) & 0x3f) << 8) | (this.msg[start + 1] as number);
    const key = compress ? start : -1 - start;
    const known = this.written.get(key);
    if (known) return known;
    const labels = wireLabels(this.msg, offset);
    if (labels === null) return null;
    const bytes = this.write(labels, compress);
    this.written.set(key, bytes);
    return bytes;
  }

  private write(labels: Buffer[], compress: boolean): Buffer {
    let shared = 0;
    if (compress) {
      while (shared < labels.length && shared < this.qlabels.length && labelKey(labels[labels.length - 1 - shared] as Buffer) === this.qlabels[this.qlabels.length - 1 - shared]) shared++;
    }
    const kept = labels.length - shared;
    const parts: Buffer[] = [];
    for (let i = 0; i < kept; i++) parts.push(Buffer.from([(labels[i] as Buffer).length]), labels[i] as Buffer);
    if (shared > 0) {
      const pointer = this.suffixOffsets[this.qlabels.length - shared] as number;
      parts.push(Buffer.from([0xc0 | (pointer >> 8), pointer & 0xff]));
    } else {
      parts.push(Buffer.from([0]));
    }
    return Buffer.concat(parts);
  }
}

/** The `index`-th name in a record's RDATA, decoded; null when the type has none there or it is malformed. */
function rdataName(msg: Buffer, record: RecordPosition, index = 0): string | null {
  const layout = NAMES_IN_RDATA[record.type];
  if (!layout || index >= layout.names || record.rdataStart + layout.before > record.end) return null;
  let at = record.rdataStart + layout.before;
  for (let i = 0; ; i++) {
    const name = decodeName(msg, at);
    if (name === null || name.end > record.end) return null;
    if (i === index) return name.name;
    at = name.end;
  }
}

/** `name` under `owner`, moved under `target` (RFC 6672); null when the result is too long. */
function substitute(name: string, owner: string, target: string): string | null {
  const prefix = owner === '' ? name : name.slice(0, -owner.length - 1);
  const moved = target === '' ? prefix : `${prefix}.${target}`;
  return moved.length + 2 > MAX_NAME_WIRE_LENGTH ? null : moved;
}

/**
 * The response rebuilt as the module comment says, or null when it is malformed (a record runs
 * past the end, a name is broken). `questionEnd` is where the upstream's own question ends.
 */
export function scrubResponse(msg: Buffer, questionEnd: number, asked: Asked, rules: ScrubRules): Buffer | null {
  const flags = msg.readUInt16BE(2);
  const counts = [msg.readUInt16BE(6), msg.readUInt16BE(8), msg.readUInt16BE(10)] as const;
  const head = Buffer.alloc(HEADER_SIZE);
  msg.copy(head, 0, 0, 4);
  head.writeUInt16BE(1, 4);
  // A truncated answer is asked again over TCP: only its header counts.
  if (flags & Flag.TC) return Buffer.concat([head, asked.question]);

  const records: Parsed[] = [];
  let offset = questionEnd;
  for (let section = 0; section < 3; section++) {
    for (let i = 0; i < counts[section]!; i++) {
      const record = readRecord(msg, offset);
      if (record === null) return null;
      records.push({ ...record, section: section as 0 | 1 | 2 });
      offset = record.end;
    }
  }

  const { qname, qtype, qclass } = asked;
  const reverseHome = rules.reverseZones.filter((zone) => isAtOrBelow(qname, zone));
  const relayable = (name: string): boolean =>
    !rules.clusterZones.some((zone) => isAtOrBelow(name, zone)) && !rules.reverseZones.some((zone) => isAtOrBelow(name, zone) && !reverseHome.includes(zone));
  const classOk = (record: Parsed): boolean => qclass === CLASS_ANY || record.class === qclass;
  const answers = records.filter((r) => r.section === 0 && classOk(r));

  // The chain: the question name, then each CNAME target or DNAME substitution in turn.
  const chain = [qname];
  const onChain = new Set(chain);
  const dnameOwners = new Set<string>();
  if (qtype !== RRType.CNAME) {
    for (let step = 0; step < MAX_CHAIN; step++) {
      const current = chain[chain.length - 1] as string;
      let next: string | null = null;
      // A DNAME above the name comes with the CNAME it stands for (RFC 6672), or stands alone.
      const dname = qtype === RRType.DNAME ? undefined : answers.find((r) => r.type === RRType.DNAME && r.owner !== current && isAtOrBelow(current, r.owner));
      const dnameTarget = dname ? rdataName(msg, dname) : null;
      if (dname && dnameTarget !== null) dnameOwners.add(dname.owner);
      const cname = answers.find((r) => r.type === RRType.CNAME && r.owner === current);
      if (cname) next = rdataName(msg, cname);
      else if (dname && dnameTarget !== null) next = substitute(current, dname.owner, dnameTarget);
      if (next === null || onChain.has(next) || !relayable(next)) break;
      chain.push(next);
      onChain.add(next);
    }
  }
  const last = chain[chain.length - 1] as string;

  const keep = new Set<Parsed>();
  for (const r of answers) {
    if (!relayable(r.owner)) continue;
    const wanted = qtype === RRType.ANY || r.type === qtype || r.type === RRType.CNAME || r.type === RRType.RRSIG;
    if ((onChain.has(r.owner) && wanted) || (dnameOwners.has(r.owner) && (r.type === RRType.DNAME || r.type === RRType.RRSIG))) keep.add(r);
  }
  const answered = [...keep].some((r) => r.owner === last && (qtype === RRType.ANY || r.type === qtype));

  // The zone the answer comes from, as far as the response proves it.
  const zones = new Set<string>();
  const authority = records.filter((r) => r.section === 1 && classOk(r) && relayable(r.owner));
  if (!answered) {
    const soa = authority.find((r) => r.type === RRType.SOA && isAtOrBelow(last, r.owner));
    if (soa) {
      keep.add(soa);
      zones.add(soa.owner);
    }
  } else {
    for (const r of keep) {
      const signer = r.type === RRType.RRSIG ? rdataName(msg, r) : null;
      if (signer !== null && isAtOrBelow(r.owner, signer)) zones.add(signer);
    }
  }
  for (const r of authority) {
    if (r.type === RRType.NS ? zones.has(r.owner) : (r.type === RRType.NSEC || r.type === RRType.NSEC3 || r.type === RRType.RRSIG) && inAnyOf(r.owner, zones)) keep.add(r);
  }

  // Glue: addresses of the names kept records send the client to.
  const targets = new Set<string>();
  for (const r of keep) {
    if (r.type !== RRType.NS && r.type !== RRType.MX && r.type !== RRType.SRV) continue;
    const target = rdataName(msg, r);
    if (target !== null && relayable(target)) targets.add(target);
  }
  let opt: Parsed | null = null;
  for (const r of records) {
    if (r.section !== 2) continue;
    if (r.type === RRType.OPT) {
      if (opt === null && r.ownerIsRoot) opt = r;
      continue;
    }
    if ((r.type === RRType.A || r.type === RRType.AAAA || r.type === RRType.RRSIG) && classOk(r) && targets.has(r.owner)) keep.add(r);
  }

  // Written anew, section by section, in the upstream's order.
  const names = new NameWriter(msg, qname);
  const parts: Buffer[] = [head, asked.question];
  let size = HEADER_SIZE + asked.question.length;
  const sent = [0, 0, 0];
  for (const r of [...records.filter((x) => keep.has(x)), ...(opt ? [opt] : [])]) {
    const bytes = r === opt ? msg.subarray(r.start, r.end) : rewrite(msg, r, names, rules.maxTtl);
    if (bytes === null) return null;
    size += bytes.length;
    // Decompressed, a message can outgrow what DNS can carry: the client is told to retry (TC), and gets no more than that.
    if (size > MAX_MESSAGE) {
      head.writeUInt16BE(flags | Flag.TC, 2);
      return Buffer.concat([head, asked.question]);
    }
    parts.push(bytes);
    sent[r.section] = (sent[r.section] as number) + 1;
  }
  head.writeUInt16BE(sent[0] as number, 6);
  head.writeUInt16BE(sent[1] as number, 8);
  head.writeUInt16BE(sent[2] as number, 10);
  return Buffer.concat(parts, size);
}

/** One record written anew: names through `names`, the TTL as relayed. */
function rewrite(msg: Buffer, record: RecordPosition, names: NameWriter, maxTtl: number): Buffer | null {
  const ownerBytes = names.writeAt(record.start, true);
  if (ownerBytes === null) return null;
  let rdata = msg.subarray(record.rdataStart, record.end);
  const layout = NAMES_IN_RDATA[record.type];
  if (layout) {
    if (record.rdataStart + layout.before > record.end) return null;
    const parts: Buffer[] = [msg.subarray(record.rdataStart, record.rdataStart + layout.before)];
    let at = record.rdataStart + layout.before;
    for (let n = 0; n < layout.names; n++) {
      const decoded = decodeName(msg, at);
      const name = decoded === null || decoded.end > record.end ? null : names.writeAt(at, layout.compress);
      if (decoded === null || name === null) return null;
      parts.push(name);
      at = decoded.end;
    }
    parts.push(msg.subarray(at, record.end));
    rdata = Buffer.concat(parts);
  }
  const out = Buffer.alloc(ownerBytes.length + 10 + rdata.length);
  ownerBytes.copy(out, 0);
  const at = ownerBytes.length;
  out.writeUInt16BE(record.type, at);
  out.writeUInt16BE(record.class, at + 2);
  out.writeUInt32BE(relayedTtl(record.ttl, maxTtl), at + 4);
  out.writeUInt16BE(rdata.length, at + 8);
  rdata.copy(out, at + 10);
  return out;
}
