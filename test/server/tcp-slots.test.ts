import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionSlots, type Slot } from '../../src/server/tcp-slots.ts';
import { FrameReader } from '../../src/server/tcp.ts';

function taken(slot: Slot | string): Slot {
  assert.equal(typeof slot, 'object', `admitted, not ${String(slot)}`);
  return slot as Slot;
}

describe('TCP connection slots', () => {
  it('refuses a prefix at its own cap, whatever room is left', () => {
    const slots = new ConnectionSlots({ maxConnections: 10, maxConnectionsPerClient: 2 });
    taken(slots.admit('a', () => undefined));
    taken(slots.admit('a', () => undefined));
    assert.equal(slots.admit('a', () => undefined), 'prefix_full');
    taken(slots.admit('b', () => undefined));
  });

  it("at the cap, evicts the busiest prefix's connection that was active the longest ago", () => {
    const slots = new ConnectionSlots({ maxConnections: 3, maxConnectionsPerClient: 10 });
    const closed: string[] = [];
    const first = taken(slots.admit('busy', () => closed.push('first')));
    taken(slots.admit('busy', () => closed.push('second')));
    taken(slots.admit('other', () => closed.push('other')));
    slots.touch(first);
    taken(slots.admit('new', () => closed.push('new')));
    assert.deepEqual(closed, ['second']);
    assert.equal(slots.size, 3);
  });

  it('refuses a newcomer from the busiest prefix, or one as busy, instead of trading places', () => {
    const slots = new ConnectionSlots({ maxConnections: 2, maxConnectionsPerClient: 10 });
    const closed: string[] = [];
    taken(slots.admit('a', () => closed.push('a')));
    taken(slots.admit('b', () => closed.push('b')));
    assert.equal(slots.admit('a', () => undefined), 'server_full');
    assert.deepEqual(closed, []);
  });

  it('frees a slot once, however often it is released', () => {
    const slots = new ConnectionSlots({ maxConnections: 2, maxConnectionsPerClient: 10 });
    const slot = taken(slots.admit('a', () => undefined));
    taken(slots.admit('a', () => undefined));
    slots.release(slot);
    slots.release(slot);
    assert.equal(slots.size, 1);
  });
});

describe('TCP frames', () => {
  const message = (fill: number, length: number) => Buffer.concat([Buffer.from([length >> 8, length & 0xff]), Buffer.alloc(length, fill)]);

  it('reads messages split anywhere, a byte at a time included', () => {
    const stream = Buffer.concat([message(1, 300), message(2, 0), message(3, 12)]);
    const reader = new FrameReader();
    const read: Buffer[] = [];
    for (const byte of stream) {
      reader.push(Buffer.from([byte]));
      for (let frame = reader.next(); frame !== null; frame = reader.next()) read.push(Buffer.from(frame));
    }
    assert.deepEqual(read, [Buffer.alloc(300, 1), Buffer.alloc(0), Buffer.alloc(12, 3)]);
  });

  it('reads several messages from one chunk, and keeps the start of the next', () => {
    const reader = new FrameReader();
    const stream = Buffer.concat([message(1, 20), message(2, 20), message(3, 20)]);
    reader.push(stream.subarray(0, 50));
    assert.deepEqual([reader.next(), reader.next()], [Buffer.alloc(20, 1), Buffer.alloc(20, 2)]);
    assert.equal(reader.next(), null);
    reader.push(stream.subarray(50));
    assert.deepEqual(reader.next(), Buffer.alloc(20, 3));
    assert.equal(reader.next(), null);
  });
});
