/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012) with a 128-bit key and a 64-bit result: what RFC
 * 9018 server cookies are made of. node:crypto has no SipHash. The 64-bit words are kept as
 * pairs of 32-bit halves in local variables (BigInt would allocate per operation), so nothing
 * allocates but the result.
 */

/** Little-endian 32-bit word at `at`, reading zero past `end`. */
function word(data: Uint8Array, at: number, end: number): number {
  if (at + 4 <= end) return (data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24)) >>> 0;
  let value = 0;
  for (let i = 3; i >= 0; i--) value = (value << 8) | (at + i < end ? data[at + i]! : 0);
  return value >>> 0;
}

/** SipHash-2-4 of `data` under a 16-byte `key`: 8 bytes, the 64-bit result little-endian (as the reference code writes it). */
export function siphash24(key: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(8);
  siphash24Into(key, data, data.length, out, 0);
  return out;
}

/** SipHash-2-4 of the first `length` bytes of `data`, written to `out` at `at`: for a caller that hashes per query and allocates nothing. */
export function siphash24Into(key: Uint8Array, data: Uint8Array, length: number, out: Uint8Array, at: number): void {
  if (key.length !== 16) throw new RangeError('SipHash needs a 16-byte key');
  if (length > data.length) throw new RangeError('SipHash: length past the data');
  const k0h = word(key, 4, 16);
  const k0l = word(key, 0, 16);
  const k1h = word(key, 12, 16);
  const k1l = word(key, 8, 16);
  // "somepseudorandomlygeneratedbytes", xored with the key; vNh/vNl: high and low halves.
  let v0h = (0x736f6d65 ^ k0h) >>> 0;
  let v0l = (0x70736575 ^ k0l) >>> 0;
  let v1h = (0x646f7261 ^ k1h) >>> 0;
  let v1l = (0x6e646f6d ^ k1l) >>> 0;
  let v2h = (0x6c796765 ^ k0h) >>> 0;
  let v2l = (0x6e657261 ^ k0l) >>> 0;
  let v3h = (0x74656462 ^ k1h) >>> 0;
  let v3l = (0x79746573 ^ k1l) >>> 0;
  let t = 0;

  const blocks = Math.floor(length / 8) + 1;
  for (let block = 0; block < blocks; block++) {
    const from = block * 8;
    let mh = word(data, from + 4, length);
    const ml = word(data, from, length);
    // The last block: the bytes left, and the length's low byte at the top.
    if (block === blocks - 1) mh = (mh | ((length & 0xff) << 24)) >>> 0;
    v3h = (v3h ^ mh) >>> 0;
    v3l = (v3l ^ ml) >>> 0;
    for (let round = 0; round < 2; round++) {
      // SipRound, the 64-bit operations spelled out on halves: add with carry, rotate, xor.
      t = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
      t = ((v1h << 13) | (v1l >>> 19)) >>> 0; v1l = ((v1l << 13) | (v1h >>> 19)) >>> 0; v1h = t;
      v1h = (v1h ^ v0h) >>> 0; v1l = (v1l ^ v0l) >>> 0;
      t = v0h; v0h = v0l; v0l = t;
      t = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
      t = ((v3h << 16) | (v3l >>> 16)) >>> 0; v3l = ((v3l << 16) | (v3h >>> 16)) >>> 0; v3h = t;
      v3h = (v3h ^ v2h) >>> 0; v3l = (v3l ^ v2l) >>> 0;
      t = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
      t = ((v3h << 21) | (v3l >>> 11)) >>> 0; v3l = ((v3l << 21) | (v3h >>> 11)) >>> 0; v3h = t;
      v3h = (v3h ^ v0h) >>> 0; v3l = (v3l ^ v0l) >>> 0;
      t = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
      t = ((v1h << 17) | (v1l >>> 15)) >>> 0; v1l = ((v1l << 17) | (v1h >>> 15)) >>> 0; v1h = t;
      v1h = (v1h ^ v2h) >>> 0; v1l = (v1l ^ v2l) >>> 0;
      t = v2h; v2h = v2l; v2l = t;
    }
    v0h = (v0h ^ mh) >>> 0;
    v0l = (v0l ^ ml) >>> 0;
  }

  // Finalization: v2 ^= 0xff, then four rounds.
  v2l = (v2l ^ 0xff) >>> 0;
  for (let round = 0; round < 4; round++) {
    t = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
    t = ((v1h << 13) | (v1l >>> 19)) >>> 0; v1l = ((v1l << 13) | (v1h >>> 19)) >>> 0; v1h = t;
    v1h = (v1h ^ v0h) >>> 0; v1l = (v1l ^ v0l) >>> 0;
    t = v0h; v0h = v0l; v0l = t;
    t = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
    t = ((v3h << 16) | (v3l >>> 16)) >>> 0; v3l = ((v3l << 16) | (v3h >>> 16)) >>> 0; v3h = t;
    v3h = (v3h ^ v2h) >>> 0; v3l = (v3l ^ v2l) >>> 0;
    t = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
    t = ((v3h << 21) | (v3l >>> 11)) >>> 0; v3l = ((v3l << 21) | (v3h >>> 11)) >>> 0; v3h = t;
    v3h = (v3h ^ v0h) >>> 0; v3l = (v3l ^ v0l) >>> 0;
    t = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
    t = ((v1h << 17) | (v1l >>> 15)) >>> 0; v1l = ((v1l << 17) | (v1h >>> 15)) >>> 0; v1h = t;
    v1h = (v1h ^ v2h) >>> 0; v1l = (v1l ^ v2l) >>> 0;
    t = v2h; v2h = v2l; v2l = t;
  }
  const low = v0l ^ v1l ^ v2l ^ v3l;
  const high = v0h ^ v1h ^ v2h ^ v3h;
  for (let i = 0; i < 4; i++) {
    out[at + i] = (low >>> (8 * i)) & 0xff;
    out[at + 4 + i] = (high >>> (8 * i)) & 0xff;
  }
}
