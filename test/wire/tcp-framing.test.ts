/**
 * Writing TCP frames (RFC 1035 §4.2.2): what frameMessage writes, FrameReader reads back, and a
 * message a two-byte length cannot carry is refused rather than sent with a wrapped length.
 * (Reading byte streams cut every way is test/server/tcp-framing.test.ts.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrameReader, MAX_FRAME, frameMessage } from '../../src/wire/tcp-framing.ts';

const message = (length: number, seed = 0) => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff));

describe('TCP frames', () => {
  for (const length of [0, 1, 12, 255, 256, 512, 4096, MAX_FRAME]) {
    it(`a ${length}-byte message: its length big-endian in front, then its bytes, read back whole`, () => {
      const body = message(length, length);
      const frame = frameMessage(body);
      assert.equal(frame.length, 2 + length);
      assert.deepEqual([frame[0], frame[1]], [length >> 8, length & 0xff]);
      assert.deepEqual(frame.subarray(2), body);
      const reader = new FrameReader();
      reader.push(frame);
      assert.deepEqual(reader.next(), body);
      assert.equal(reader.next(), null);
    });
  }

  it('frames written back to back are read one by one, in order', () => {
    const bodies = [message(12, 1), message(300, 2), message(0), message(40, 3)];
    const reader = new FrameReader();
    reader.push(Buffer.concat(bodies.map(frameMessage)));
    for (const body of bodies) assert.deepEqual(reader.next(), body);
    assert.equal(reader.next(), null);
  });

  it('a message longer than a two-byte length can say is refused', () => {
    assert.throws(() => frameMessage(Buffer.alloc(MAX_FRAME + 1)), RangeError);
  });
});
