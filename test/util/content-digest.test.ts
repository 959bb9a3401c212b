/** Change detection's digest: equal content, equal digest; any change, another; text as its UTF-8 bytes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { contentDigest } from '../../src/util/content-digest.ts';

describe('contentDigest', () => {
  it('is SHA-256 (the FIPS 180-2 "abc" vector), in base64', () => {
    assert.equal(Buffer.from(contentDigest('abc'), 'base64').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('gives text and the UTF-8 bytes it was read from the same digest', () => {
    for (const text of ['', 'ttl: 5\n', 'zones: [cluster.local]\n# é ü 雪\n']) assert.equal(contentDigest(text), contentDigest(Buffer.from(text, 'utf8')));
  });

  it('tells apart contents that differ in one byte, in order, or in length', () => {
    const versions = ['ttl: 5\n', 'ttl: 6\n', 'ttl:5 \n', 'ttl: 5', 'ttl: 5\n\n', ''];
    assert.equal(new Set(versions.map((v) => contentDigest(v))).size, versions.length);
  });
});
