/**
 * fast-check generators of hostile DNS packets (test/server/fuzz.test.ts feeds them to the handler,
 * test/e2e/udp-io.test.ts to a running lbdns over UDP).
 */
import fc from 'fast-check';

export const label = fc.oneof(
  fc.constantFrom('web', 'default', 'svc', 'cluster', 'local', 'pod', '_http', '_tcp', 'in-addr', 'arpa', 'db-0', '10-244-0-11'),
  fc.string({ minLength: 1, maxLength: 70 }),
);
/** Wire names: normal labels, over-long ones, compression pointers anywhere (loops included), reserved label types. */
const wireName = fc.array(
  fc.oneof(
    label.map((l) => Buffer.concat([Buffer.from([Math.min(l.length, 255)]), Buffer.from(l, 'latin1')])),
    fc.integer({ min: 0, max: 0x3fff }).map((p) => Buffer.from([0xc0 | (p >> 8), p & 0xff])),
    // Pointers into the header, which the response rewrites: what a hostile query aims at.
    fc.integer({ min: 0, max: 11 }).map((p) => Buffer.from([0xc0, p])),
    fc.integer({ min: 0x40, max: 0xbf }).map((b) => Buffer.from([b])),
  ),
  { maxLength: 12 },
).map((parts) => Buffer.concat([...parts, Buffer.from([0])]));

export const u16 = fc.integer({ min: 0, max: 0xffff });
export const structured = fc
  .record({
    id: u16,
    flags: u16,
    counts: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.oneof(fc.constant(0), u16), fc.oneof(fc.constant(0), u16), fc.oneof(fc.integer({ min: 0, max: 3 }), u16)),
    name: wireName,
    qtype: fc.oneof(fc.constantFrom(1, 28, 33, 12, 5, 16, 255, 252, 41), u16),
    qclass: fc.oneof(fc.constant(1), u16),
    opt: fc.option(fc.record({ size: u16, ttl: fc.integer({ min: 0, max: 0xffffffff }), rdata: fc.uint8Array({ maxLength: 40 }), rdlength: fc.option(u16) })),
    trailer: fc.uint8Array({ maxLength: 40 }),
    cut: fc.option(fc.nat()),
  })
  .map((p) => {
    const header = Buffer.alloc(12);
    header.writeUInt16BE(p.id, 0);
    header.writeUInt16BE(p.flags & 0x7fff, 2);
    p.counts.forEach((c, i) => header.writeUInt16BE(c, 4 + i * 2));
    const question = Buffer.concat([p.name, Buffer.from([p.qtype >> 8, p.qtype & 0xff, p.qclass >> 8, p.qclass & 0xff])]);
    const parts = [header, question];
    if (p.opt) {
      const opt = Buffer.alloc(11);
      opt.writeUInt16BE(41, 1);
      opt.writeUInt16BE(p.opt.size, 3);
      opt.writeUInt32BE(p.opt.ttl, 5);
      opt.writeUInt16BE(p.opt.rdlength ?? p.opt.rdata.length, 9);
      parts.push(opt, Buffer.from(p.opt.rdata));
    }
    parts.push(Buffer.from(p.trailer));
    const packet = Buffer.concat(parts);
    return p.cut === null ? packet : packet.subarray(0, p.cut % (packet.length + 1));
  });
