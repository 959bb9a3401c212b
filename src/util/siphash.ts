/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012) with a 128-bit key and a 64-bit result: what RFC
 * 9018 server cookies are made of. node:crypto has no SipHash. The 64-bit words are kept as
 * pairs of 32-bit halves, so nothing allocates but the result.
 */

// The state v0..v3 as [high, low] halves, in one typed array: v0 = s[0],s[1]; v1 = s[2],s[3]; ...
const s = new Uint32Array(8);
const m = new Uint32Array(2);

/** a += b (64-bit, modulo 2^64) on halves at `a`, `b`. */
function add(a: number, b: number): void {
  const low = s[a + 1]! + s[b + 1]!;
  s[a] = (s[a]! + s[b]! + (low > 0xffffffff ? 1 : 0)) >>> 0;
  s[a + 1] = low >>> 0;
}

/** a = rotl(a, bits) for 0 < bits < 64, bits !== 32. */
function rotl(a: number, bits: number): void {
  let high = s[a]!;
  let low = s[a + 1]!;
  if (bits > 32) {
    [high, low] = [low, high];
    bits -= 32;
  }
  s[a] = ((high << bits) | (low >>> (32 - bits))) >>> 0;
  s[a + 1] = ((low << bits) | (high >>> (32 - bits))) >>> 0;
}

/** a = rotl(a, 32): the halves swap. */
function rotl32(a: number): void {
  const high = s[a]!;
  s[a] = s[a + 1]!;
  s[a + 1] = high;
}

function xor(a: number, b: number): void {
  s[a] = (s[a]! ^ s[b]!) >>> 0;
  s[a + 1] = (s[a + 1]! ^ s[b + 1]!) >>> 0;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function round(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  rotl32(V0);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  rotl32(V2);
}

/** Little-endian 32-bit word at `at`, reading zero past `end`. */
function word(data: Uint8Array, at: number, end: number): number {
  let value = 0;
  for (let i = 3; i >= 0; i--) value = (value << 8) | (at + i < end ? data[at + i]! : 0);
  return value >>> 0;
}

function absorb(high: number, low: number): void {
  s[V3] = (s[V3]! ^ high) >>> 0;
  s[V3 + 1] = (s[V3 + 1]! ^ low) >>> 0;
  round();
  round();
  s[V0] = (s[V0]! ^ high) >>> 0;
  s[V0 + 1] = (s[V0 + 1]! ^ low) >>> 0;
}

/** SipHash-2-4 of `data` under a 16-byte `key`: 8 bytes, the 64-bit result little-endian (as the reference code writes it). */
export function siphash24(key: Uint8Array, data: Uint8Array): Buffer {
  if (key.length !== 16) throw new RangeError('SipHash needs a 16-byte key');
  const k0high = word(key, 4, 16);
  const k0low = word(key, 0, 16);
  const k1high = word(key, 12, 16);
  const k1low = word(key, 8, 16);
  // "somepseudorandomlygeneratedbytes", xored with the key.
  s[0] = (0x736f6d65 ^ k0high) >>> 0;
  s[1] = (0x70736575 ^ k0low) >>> 0;
  s[2] = (0x646f7261 ^ k1high) >>> 0;
  s[3] = (0x6e646f6d ^ k1low) >>> 0;
  s[4] = (0x6c796765 ^ k0high) >>> 0;
  s[5] = (0x6e657261 ^ k0low) >>> 0;
  s[6] = (0x74656462 ^ k1high) >>> 0;
  s[7] = (0x79746573 ^ k1low) >>> 0;

  const length = data.length;
  const whole = length - (length % 8);
  for (let at = 0; at < whole; at += 8) absorb(word(data, at + 4, length), word(data, at, length));
  // The last block: the remaining bytes, and the length's low byte at the top.
  m[0] = (word(data, whole + 4, length) | ((length & 0xff) << 24)) >>> 0;
  m[1] = word(data, whole, length);
  absorb(m[0]!, m[1]!);

  s[V2 + 1] = (s[V2 + 1]! ^ 0xff) >>> 0;
  round();
  round();
  round();
  round();
  const high = (s[0]! ^ s[2]! ^ s[4]! ^ s[6]!) >>> 0;
  const low = (s[1]! ^ s[3]! ^ s[5]! ^ s[7]!) >>> 0;
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32LE(low, 0);
  out.writeUInt32LE(high, 4);
  return out;
}
