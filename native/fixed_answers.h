// Answers from the shared table of fixed answers (src/server/shared-answers.ts), read without
// entering JavaScript: what the handler would answer for a repeat query of the usual shape whose
// answer every client gets alike. UdpBatch (native/udp_batch.cc) asks it for each datagram of a
// batch before the batch goes to JavaScript; what it cannot answer exactly as the handler would
// (another shape, EDNS options, a miss, a table changing meanwhile) is left to JavaScript.
//
// The layouts it reads are written in TypeScript too, and that is where they are explained:
//   - the query's shape and its key: readCommonQuery in src/wire/query.ts;
//   - the table's ways and entries: src/server/shared-answers.ts;
//   - the response and how it is cut to fit: writeFixedResponse in src/wire/message.ts.
// test/server/native-answers.test.ts checks that both give the same bytes for the same query.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace lbdns {

// What an answer was, for the thread's query statistics.
struct FixedAnswerFacts {
  uint32_t qtype;
  uint32_t zone;   // the table's zone index
  uint32_t rcode;
};

class FixedAnswers {
 public:
  // ways: the table's ways, 2 int32 each ([seq, entry offset + 1]), `wayInts` of them;
  // arena: its entries. control[0]: 1 when this thread's handler lets these answers be sent from
  // here; control[1]: the UDP payload size the server advertises (settings.maxUdpSize).
  FixedAnswers(const int32_t* ways, size_t wayInts, const uint8_t* arena, size_t arenaLength, const int32_t* control, uint32_t seed);

  bool enabled() const { return control_[0] == 1; }

  // Writes the response to `query` into `out` (at most `room` bytes) and returns its length, or 0
  // when JavaScript must answer it.
  size_t Answer(const uint8_t* query, size_t length, uint8_t* out, size_t room, FixedAnswerFacts* facts) const;

 private:
  const int32_t* ways_;
  // The number of sets (a power of two) less one.
  size_t setMask_;
  const uint8_t* arena_;
  size_t arenaLength_;
  const int32_t* control_;
  uint32_t seed_;
};

}  // namespace lbdns
