// FixedAnswers (native/fixed_answers.h): the handler's answer to a repeat query from the shared
// table, in C++. Each step names the TypeScript it mirrors.
#include "fixed_answers.h"

#include <string.h>

namespace lbdns {

namespace {

constexpr size_t kHeader = 12;
constexpr size_t kOptSize = 11;
constexpr uint32_t kClassicUdpLimit = 512;
constexpr uint32_t kOpt = 41;
constexpr uint32_t kFnvPrime = 16777619;
// shared-answers.ts: WAYS, WAY_INTS, ENTRY_HEADER, LARGEST_ENTRY, and the entry's flag byte.
constexpr size_t kWays = 4;
constexpr size_t kWayInts = 2;
constexpr size_t kEntryHeader = 24;
constexpr size_t kLargestEntry = 4096;
constexpr uint8_t kAnswerAsIs = 1;
// constants.ts: Flag.
constexpr uint16_t kQr = 0x8000, kAa = 0x0400, kTc = 0x0200, kRd = 0x0100, kCd = 0x0010, kOpcode = 0x7800;

inline uint8_t LowerAscii(uint8_t byte) {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}

inline uint16_t Read16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}

inline uint16_t Read16LE(const uint8_t* p) {
  return uint16_t(p[0] | p[1] << 8);
}

inline uint32_t Read32LE(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

inline void Put16(uint8_t* p, uint32_t value) {
  p[0] = uint8_t(value >> 8);
  p[1] = uint8_t(value);
}

// message.ts recordEnd: where the record at `at` of `records` ends, or 0 when it does not end
// inside them (never the case for what the handler wrote; checked, since the bytes are shared).
size_t RecordEnd(const uint8_t* records, size_t length, size_t at) {
  for (;;) {
    if (at >= length) return 0;
    uint8_t label = records[at];
    if (label == 0) {
      at += 1;
      break;
    }
    if ((label & 0xc0) == 0xc0) {
      at += 2;
      break;
    }
    at += 1 + label;
  }
  if (at + 10 > length) return 0;
  size_t end = at + 10 + Read16(records + at + 8);
  return end <= length ? end : 0;
}

// message.ts fitting: of the `count` records from `at`, how many whole ones end by `room`, and
// where they end; false when the records do not parse.
bool Fitting(const uint8_t* records, size_t length, size_t at, uint32_t count, size_t room, uint32_t* taken, size_t* end) {
  *taken = 0;
  while (*taken < count) {
    size_t next = RecordEnd(records, length, at);
    if (next == 0) return false;
    if (next > room) break;
    at = next;
    (*taken)++;
  }
  *end = at;
  return true;
}

}  // namespace

FixedAnswers::FixedAnswers(const int32_t* ways, size_t wayInts, const uint8_t* arena, size_t arenaLength, const int32_t* control, uint32_t seed)
    : ways_(ways), setMask_(wayInts / (kWays * kWayInts) - 1), arena_(arena), arenaLength_(arenaLength), control_(control), seed_(seed) {}

size_t FixedAnswers::Answer(const uint8_t* msg, size_t length, uint8_t* out, size_t room, FixedAnswerFacts* facts) const {
  // query.ts readCommonQuery: QR clear and opcode QUERY; QDCOUNT 1, ANCOUNT and NSCOUNT 0, ARCOUNT 0 or 1.
  if (length < kHeader + 5 || (msg[2] & 0xf8) != 0) return 0;
  if (msg[4] != 0 || msg[5] != 1 || msg[6] != 0 || msg[7] != 0 || msg[8] != 0 || msg[9] != 0 || msg[10] != 0 || msg[11] > 1) return 0;
  uint32_t key = seed_;
  size_t at = kHeader;
  for (;;) {
    uint8_t label = msg[at];
    if (label == 0) break;
    if (label > 63) return 0;
    size_t next = at + 1 + label;
    if (next >= length) return 0;
    key = (key ^ label) * kFnvPrime;
    for (size_t i = at + 1; i < next; i++) key = (key ^ LowerAscii(msg[i])) * kFnvPrime;
    at = next;
  }
  size_t nameEnd = at + 1;
  if (nameEnd - kHeader > 255 || nameEnd + 4 > length) return 0;
  if (msg[nameEnd + 2] != 0 || msg[nameEnd + 3] != 1) return 0;
  size_t questionEnd = nameEnd + 4;
  key = (key ^ msg[nameEnd]) * kFnvPrime;
  key = (key ^ msg[nameEnd + 1]) * kFnvPrime;
  key &= 0x3fffffff;

  bool edns = msg[11] == 1;
  uint32_t udpSize = 0;
  bool dnssecOk = false;
  if (edns) {
    if (questionEnd + kOptSize > length || msg[questionEnd] != 0 || msg[questionEnd + 1] != 0 || msg[questionEnd + 2] != kOpt) return 0;
    // Options (cookies, NSID, padding…) are the handler's: edns-reply.ts answers them.
    if (Read16(msg + questionEnd + 9) != 0 || msg[questionEnd + 6] != 0) return 0;
    udpSize = Read16(msg + questionEnd + 3);
    if (udpSize < kClassicUdpLimit) udpSize = kClassicUdpLimit;
    dnssecOk = (msg[questionEnd + 7] & 0x80) != 0;
  }

  // shared-answers.ts read: the question's set, each way a seqlock.
  size_t first = (key & setMask_) * kWays;
  size_t questionLength = questionEnd - 2 - kHeader;
  size_t fixedLength = questionEnd + (edns ? kOptSize : 0);
  for (size_t way = first; way < first + kWays; way++) {
    const int32_t* seqAt = ways_ + way * kWayInts;
    int32_t seq = __atomic_load_n(seqAt, __ATOMIC_ACQUIRE);
    if ((seq & 1) != 0) continue;
    int64_t offset = int64_t(__atomic_load_n(seqAt + 1, __ATOMIC_ACQUIRE)) - 1;
    if (offset < 0 || size_t(offset) + kEntryHeader > arenaLength_) continue;
    const uint8_t* entry = arena_ + offset;
    if (Read32LE(entry) != key) continue;
    size_t storedQuestion = Read16LE(entry + 4);
    size_t recordsLength = Read16LE(entry + 6);
    size_t recordsAt = size_t(offset) + kEntryHeader + storedQuestion;
    if (recordsLength > kLargestEntry || recordsAt + recordsLength > arenaLength_) continue;
    // query.ts sameQuestionBytes: the lowercased name, then the type as it is.
    if (storedQuestion != questionLength) continue;
    const uint8_t* stored = entry + kEntryHeader;
    bool same = true;
    for (size_t i = kHeader; i < nameEnd && same; i++) same = LowerAscii(msg[i]) == stored[i - kHeader];
    if (!same || msg[nameEnd] != stored[questionLength - 2] || msg[nameEnd + 1] != stored[questionLength - 1]) continue;
    if (fixedLength + recordsLength > room) return 0;
    // The records are copied where the response holds them, then trusted only if the way did not change meanwhile.
    memcpy(out + questionEnd, arena_ + recordsAt, recordsLength);
    uint8_t head[kEntryHeader];
    memcpy(head, entry, kEntryHeader);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(seqAt, __ATOMIC_RELAXED) != seq) return 0;
    uint32_t rcode = head[8];
    bool authoritative = head[9] == 1;
    uint32_t zone = head[10];
    if ((head[11] & kAnswerAsIs) == 0) return 0;
    uint32_t answers = Read16LE(head + 12), authority = Read16LE(head + 14), additional = Read16LE(head + 16);
    size_t additionalAt = Read16LE(head + 18);
    if (additionalAt > recordsLength) return 0;

    // message.ts udpLimit and writeFixedResponse.
    uint32_t advertised = uint32_t(control_[1]);
    size_t limit = edns ? (udpSize < advertised ? udpSize : advertised) : kClassicUdpLimit;
    const uint8_t* records = out + questionEnd;
    size_t end = recordsLength;
    bool truncated = false;
    if (fixedLength + end > limit) {
      if (fixedLength + additionalAt <= limit) {
        if (!Fitting(records, recordsLength, additionalAt, additional, limit - fixedLength, &additional, &end)) return 0;
      } else {
        truncated = true;
        authority = 0;
        additional = 0;
        if (!Fitting(records, recordsLength, 0, answers, limit - fixedLength, &answers, &end)) return 0;
      }
    }
    uint16_t requestFlags = Read16(msg + 2);
    uint32_t flags = kQr | (requestFlags & (kOpcode | kRd | kCd)) | (rcode & 0xf);
    if (authoritative) flags |= kAa;
    if (truncated) flags |= kTc;
    out[0] = msg[0];
    out[1] = msg[1];
    Put16(out + 2, flags);
    Put16(out + 4, 1);
    Put16(out + 6, answers);
    Put16(out + 8, authority);
    Put16(out + 10, additional + (edns ? 1 : 0));
    memcpy(out + kHeader, msg + kHeader, questionEnd - kHeader);
    size_t total = questionEnd + end;
    if (edns) {
      // header.ts writeOpt: root owner, OPT, our UDP size, the rcode's upper bits, version 0, DO echoed, no options.
      uint8_t* opt = out + total;
      opt[0] = 0;
      Put16(opt + 1, kOpt);
      Put16(opt + 3, advertised);
      opt[5] = uint8_t((rcode >> 4) & 0xff);
      opt[6] = 0;
      Put16(opt + 7, dnssecOk ? 0x8000 : 0);
      Put16(opt + 9, 0);
      total += kOptSize;
    }
    facts->qtype = Read16(msg + nameEnd);
    facts->zone = zone;
    facts->rcode = rcode;
    return total;
  }
  return 0;
}

}  // namespace lbdns
