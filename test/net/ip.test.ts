import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isIPv4, isIPv6 } from 'node:net';
import { bytesToIp, canonicalIp, ipToBytes } from '../../src/net/ip.ts';

/** What canonicalIp means, spelled out the long way: parse, then print canonically. */
function canonicalTheLongWay(address: string): string | null {
  const bytes = ipToBytes(address);
  return bytes === null ? null : bytesToIp(bytes);
}

describe('canonicalIp', () => {
  it('prints addresses canonically and refuses what is not one', () => {
    assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
    assert.equal(canonicalIp('255.255.255.255'), '255.255.255.255');
    assert.equal(canonicalIp('FD00:0:0::1'), 'fd00::1');
    assert.equal(canonicalIp('::ffff:10.0.0.1'), '::ffff:a00:1');
    for (const text of ['', '10.0.0', '10.0.0.1.', '.10.0.0.1', '10..0.1', '10.0.0.256', '10.0.0.1 ', '1.2.3.4.5', '01.2.3.4', '10.0.0.00', 'a.b.c.d', '1234.0.0.1']) {
      assert.equal(canonicalIp(text), null, JSON.stringify(text));
    }
  });

  it('agrees with parsing and printing for any text made of digits and dots', () => {
    const dotted = fc.array(fc.constantFrom('0', '1', '2', '5', '9', '.', '00', '25', '255', '256', '300'), { maxLength: 12 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(dotted, (text) => {
        assert.equal(canonicalIp(text), canonicalTheLongWay(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with parsing and printing for any IPv4 or IPv6 address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6()), (text) => {
        if (!isIPv4(text) && !isIPv6(text)) return;
        assert.equal(canonicalIp(text), canonicalTheLongWay(text));
      }),
      { numRuns: 2000 },
    );
  });
});
