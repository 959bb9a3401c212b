/**
 * SipHash-2-4 against published vectors: the reference implementation's (key 00..0f, message
 * 00..n-1), the paper's worked example, and RFC 9018 Appendix A.1's server cookie.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { siphash24 } from '../../src/util/siphash.ts';

const key = Uint8Array.from({ length: 16 }, (_, i) => i);
const message = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => i);

describe('siphash24', () => {
  it('matches the reference vectors (key 00..0f, message 00..n-1), written little-endian', () => {
    assert.equal(siphash24(key, message(0)).toString('hex'), '310e0edd47db6f72');
    assert.equal(siphash24(key, message(1)).toString('hex'), 'fd67dc93c539f874');
    assert.equal(siphash24(key, message(2)).toString('hex'), '5a4fa9d909806c0d');
  });

  it("gives the paper's example: a129ca6149be45e5 for the 15-byte message", () => {
    assert.equal(siphash24(key, message(15)).readBigUInt64LE(0).toString(16), 'a129ca6149be45e5');
  });

  it('gives the server cookie hash of RFC 9018 Appendix A.1', () => {
    const secret = Buffer.from('e5e973e5a6b2a43f48e7dc849e37bfcf', 'hex');
    // Client cookie | version 1 | reserved | timestamp 1559731985 | client 198.51.100.100
    const input = Buffer.from('2464c4abcf10c957' + '01' + '000000' + '5cf79f11' + 'c6336464', 'hex');
    assert.equal(siphash24(secret, input).toString('hex'), '1f8130c3eee29480');
  });

  it('reads every block of a long message and rejects a key of the wrong size', () => {
    assert.notEqual(siphash24(key, message(63)).toString('hex'), siphash24(key, message(62)).toString('hex'));
    assert.throws(() => siphash24(key.subarray(0, 15), message(1)), /16-byte key/);
  });
});
