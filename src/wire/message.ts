/**
 * Response assembly: header + the client's own question bytes + prepared record bytes + OPT.
 * Nothing here looks inside a record; the work per response is copying and patching counts.
 */
import { CLASSIC_UDP_LIMIT, Flag, HEADER_SIZE } from './constants.ts';
import type { Edns } from './query.ts';
import { OPT_SIZE, put16, writeOpt as writeOptRecord } from './header.ts';

/**
 * The records a response carries, in the shape this module writes them from. Balancing and
 * resolution extend it (resolve/answer.ts); nothing here needs to know how records were chosen.
 */
export interface ResponseRecords {
  rcode: number;
  authoritative: boolean;
  /** Encoded answer records; those at `balancedFrom` and after are the ones a response may reorder or cut. */
  answers: readonly Buffer[];
  balancedFrom: number;
  authority: readonly Buffer[];
  additional: readonly Buffer[];
  /**
   * Sizes and shuffle state of the records, prepared with them (layoutAnswer); absent: worked
   * out per response. A copy that changes the balanced records or the additional ones must
   * drop it (a changed count or additional array is noticed).
   */
  layout?: AnswerLayout | null;
}

/**
 * What a response needs to know about a prepared answer without walking every record: a large
 * Service's answer holds thousands of records, of which a response sends a few dozen.
 */
export interface AnswerLayout {
  /** How many balanced records (answers[balancedFrom..]) it describes: a copy that changes them no longer matches. */
  balancedCount: number;
  /** The shortest balanced record: at most room / this many fit. */
  minBalancedLength: number;
  /** The additional records it describes, and their length. */
  additional: readonly Buffer[];
  additionalLength: number;
  /** Answers without a plan: the balanced records' indices, a permutation partial shuffles keep reusing. */
  shuffleOrder: Uint32Array | null;
}

/** What a response echoes from its query, and the EDNS options it answers with (cookie, NSID). */
export interface ResponseHead {
  id: number;
  flags: number;
  questionEnd: number;
  edns: Edns | null;
  replyOptions?: Buffer;
}

/** The length of the OPT record a response to `head` ends with: none without EDNS. */
export function optLength(head: ResponseHead): number {
  if (!head.edns) return 0;
  return head.replyOptions === undefined ? OPT_SIZE : OPT_SIZE + head.replyOptions.length;
}

export interface ResponseOptions {
  /** The largest response the transport allows: the UDP payload size, or 65535 over TCP. */
  limit: number;
  /** The UDP payload size lbdns advertises in its OPT record. */
  advertisedUdpSize: number;
}

/** The balanced records to send, in order, in place of `answers[balancedFrom..]`; null: as prepared. */
export type ChosenRecords = readonly Buffer[] | null;

export function sumLength(records: readonly Buffer[]): number {
  let total = 0;
  for (const record of records) total += record.length;
  return total;
}

/** The layout of an answer's records; `shuffled`: it has no plan, responses shuffle it. */
export function layoutAnswer(answers: readonly Buffer[], balancedFrom: number, additional: readonly Buffer[], shuffled: boolean): AnswerLayout {
  let minBalancedLength = Infinity;
  for (let i = balancedFrom; i < answers.length; i++) minBalancedLength = Math.min(minBalancedLength, answers[i]!.length);
  const balancedCount = answers.length - balancedFrom;
  return {
    balancedCount,
    minBalancedLength,
    additional,
    additionalLength: sumLength(additional),
    shuffleOrder: shuffled && balancedCount > 1 ? Uint32Array.from({ length: balancedCount }, (_, i) => i) : null,
  };
}

/**
 * How many balanced records a response within `limit` needs at most: all that fit, and one more
 * when not all do, so that writeResponse sees it does not fit and truncates as for the whole
 * answer. The records before them (a CNAME) are summed; the balanced ones are bounded by the
 * shortest one's length.
 */
export function balancedBudget(head: ResponseHead, answer: ResponseRecords, layout: AnswerLayout, limit: number): number {
  let room = limit - head.questionEnd - optLength(head);
  for (let i = 0; i < answer.balancedFrom; i++) room -= answer.answers[i]!.length;
  const fit = room < 0 ? 0 : Math.floor(room / layout.minBalancedLength);
  return Math.min(layout.balancedCount, fit + 1);
}

// TypedArray#set rather than Buffer#copy, and put16: Buffer's methods check their arguments on
// every call, which showed in profiles of the per-query path.
function writeOpt(out: Buffer, at: number, rcode: number, head: ResponseHead, advertisedUdpSize: number): number {
  return writeOptRecord(out, at, advertisedUdpSize, (head.edns as Edns).dnssecOk, rcode, head.replyOptions);
}

function writeHeader(out: Buffer, head: ResponseHead, rcode: number, authoritative: boolean, truncated: boolean, questions: number, answers: number, authority: number, additional: number): void {
  put16(out, 0, head.id);
  let flags = Flag.QR | (head.flags & (0x7800 | Flag.RD | Flag.CD)) | (rcode & 0xf);
  if (authoritative) flags |= Flag.AA;
  if (truncated) flags |= Flag.TC;
  put16(out, 2, flags);
  put16(out, 4, questions);
  put16(out, 6, answers);
  put16(out, 8, authority);
  put16(out, 10, additional);
}

/**
 * A response with no records: errors, REFUSED, SERVFAIL, or (`truncated`) a rate limiter's slip.
 * Echoes the question when there is one.
 */
export function writeBareResponse(request: Buffer, head: ResponseHead, rcode: number, advertisedUdpSize: number, truncated = false): Buffer {
  const questionLength = head.questionEnd > HEADER_SIZE ? head.questionEnd - HEADER_SIZE : 0;
  const out = Buffer.allocUnsafe(HEADER_SIZE + questionLength + optLength(head));
  writeHeader(out, head, rcode, false, truncated, questionLength > 0 ? 1 : 0, 0, 0, head.edns ? 1 : 0);
  request.copy(out, HEADER_SIZE, HEADER_SIZE, HEADER_SIZE + questionLength);
  if (head.edns) writeOpt(out, HEADER_SIZE + questionLength, rcode, head, advertisedUdpSize);
  return out;
}

/** Copies the first `count` records to `out` at `at`; returns where they end. */
function place(out: Buffer, at: number, records: readonly Buffer[], count: number): number {
  for (let i = 0; i < count; i++) {
    const record = records[i] as Buffer;
    out.set(record, at);
    at += record.length;
  }
  return at;
}

/**
 * `chosenAdditional`: the additional records to send instead of the answer's own (the glue of
 * the chosen records).
 */
export function writeResponse(request: Buffer, head: ResponseHead, answer: ResponseRecords, chosen: ChosenRecords, options: ResponseOptions, chosenAdditional: readonly Buffer[] | null = null): Buffer {
  const questionLength = head.questionEnd - HEADER_SIZE;
  const from = answer.balancedFrom;
  const answerCount = chosen ? from + chosen.length : answer.answers.length;
  const recordAt = (i: number): Buffer => (chosen && i >= from ? chosen[i - from] : answer.answers[i]) as Buffer;

  let answerBytes = 0;
  for (let i = 0; i < answerCount; i++) answerBytes += recordAt(i).length;
  const additional = chosenAdditional ?? answer.additional;
  const authorityBytes = sumLength(answer.authority);
  const additionalBytes = !chosenAdditional && answer.layout?.additional === additional ? answer.layout.additionalLength : sumLength(additional);
  const fixed = HEADER_SIZE + questionLength + optLength(head);
  let total = fixed + answerBytes + authorityBytes + additionalBytes;

  let sentAnswers = answerCount;
  let sentAuthority = answer.authority.length;
  let sentAdditional = additional.length;
  let truncated = false;
  if (total > options.limit && total - additionalBytes <= options.limit) {
    // RFC 2181 §9: additional records (glue) are extra, no reason for TC. Send those that fit, in order.
    total -= additionalBytes;
    sentAdditional = 0;
    while (sentAdditional < additional.length && total + (additional[sentAdditional] as Buffer).length <= options.limit) {
      total += (additional[sentAdditional] as Buffer).length;
      sentAdditional++;
    }
  } else if (total > options.limit) {
    // The answer itself does not fit. Keep whole answer records while they fit (useful to clients
    // that never retry over TCP), drop the other sections, and tell the client with TC to ask
    // again over TCP.
    truncated = true;
    sentAuthority = 0;
    sentAdditional = 0;
    total = fixed;
    sentAnswers = 0;
    while (sentAnswers < answerCount && total + recordAt(sentAnswers).length <= options.limit) {
      total += recordAt(sentAnswers).length;
      sentAnswers++;
    }
  }

  const out = Buffer.allocUnsafe(total);
  writeHeader(out, head, answer.rcode, answer.authoritative, truncated, 1, sentAnswers, sentAuthority, sentAdditional + (head.edns ? 1 : 0));
  out.set(request.subarray(HEADER_SIZE, head.questionEnd), HEADER_SIZE);
  let at = head.questionEnd;
  at = place(out, at, answer.answers, chosen ? Math.min(sentAnswers, from) : sentAnswers);
  if (chosen && sentAnswers > from) at = place(out, at, chosen, sentAnswers - from);
  at = place(out, at, answer.authority, sentAuthority);
  at = place(out, at, additional, sentAdditional);
  if (head.edns) writeOpt(out, at, answer.rcode, head, options.advertisedUdpSize);
  return out;
}

/**
 * An answer sent the same way to everyone (nothing to reorder), its records joined into one run
 * of bytes: a repeat query then reads this object and one buffer, not every record's.
 */
export interface FixedAnswer {
  rcode: number;
  authoritative: boolean;
  /** Answer, authority and additional records, in order. */
  records: Buffer;
  answers: number;
  authority: number;
  additional: number;
  /** Where the additional records start in `records`: what a response that does not fit leaves out first. */
  additionalAt: number;
}

/**
 * Where the record at `at` in prepared bytes ends. Its owner is labels ending in the root or a
 * pointer (into the message, which these bytes do not hold, so it is not followed).
 */
function recordEnd(records: Buffer, at: number): number {
  for (;;) {
    const length = records[at] as number;
    if (length === 0) {
      at += 1;
      break;
    }
    if ((length & 0xc0) === 0xc0) {
      at += 2;
      break;
    }
    at += 1 + length;
  }
  return at + 10 + (((records[at + 8] as number) << 8) | (records[at + 9] as number));
}

/** Of the `count` records from `at`, how many whole ones fit before byte `room`, in order, and where they end. */
function fitting(records: Buffer, at: number, count: number, room: number): { count: number; end: number } {
  let taken = 0;
  while (taken < count) {
    const next = recordEnd(records, at);
    if (next > room) break;
    at = next;
    taken++;
  }
  return { count: taken, end: at };
}

/**
 * The response with a fixed answer, cut the way writeResponse cuts one that does not fit
 * `limit`: first the additional records that do not fit (no TC), else whole answer records while
 * they fit, with TC. The records looked at to cut are at most as many as fit `limit`.
 */
export function writeFixedResponse(request: Buffer, head: ResponseHead, answer: FixedAnswer, limit: number, advertisedUdpSize: number): Buffer {
  const records = answer.records;
  const fixed = head.questionEnd + optLength(head);
  let end = records.length;
  let answers = answer.answers;
  let authority = answer.authority;
  let additional = answer.additional;
  let truncated = false;
  if (fixed + end > limit) {
    if (fixed + answer.additionalAt <= limit) {
      // RFC 2181 §9: additional records (glue) are extra, no reason for TC. Send those that fit, in order.
      ({ count: additional, end } = fitting(records, answer.additionalAt, answer.additional, limit - fixed));
    } else {
      truncated = true;
      authority = 0;
      additional = 0;
      ({ count: answers, end } = fitting(records, 0, answer.answers, limit - fixed));
    }
  }
  const out = Buffer.allocUnsafe(fixed + end);
  writeHeader(out, head, answer.rcode, answer.authoritative, truncated, 1, answers, authority, additional + (head.edns ? 1 : 0));
  for (let i = HEADER_SIZE; i < head.questionEnd; i++) out[i] = request[i] as number;
  out.set(end === records.length ? records : records.subarray(0, end), head.questionEnd);
  if (head.edns) writeOpt(out, head.questionEnd + end, answer.rcode, head, advertisedUdpSize);
  return out;
}

/** The UDP payload limit for a query: the client's EDNS size capped by ours, else 512. */
export function udpLimit(edns: Edns | null, maxUdpSize: number): number {
  return edns ? Math.min(edns.udpSize, maxUdpSize) : CLASSIC_UDP_LIMIT;
}
