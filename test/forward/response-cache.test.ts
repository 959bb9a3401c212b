/** The forwarding cache's key and what a client's copy of a cached answer looks like. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey } from '../../src/forward/response-cache.ts';
import type { Query } from '../../src/wire/query.ts';

const query = (fields: Partial<Query>): Query => ({ id: 1, flags: 0, qname: 'www.example.test', qtype: 1, qclass: 1, questionEnd: 34, edns: null, ...fields });

describe('cacheKey', () => {
  it('tells apart what makes answers differ: name, type, class, DO bit', () => {
    const keys = [
      query({}),
      query({ qname: 'www.example.org' }),
      query({ qtype: 28 }),
      query({ qclass: 255 }),
      query({ qclass: 3 }),
      query({ edns: { udpSize: 1232, version: 0, dnssecOk: true } }),
    ].map(cacheKey);
    assert.equal(new Set(keys).size, keys.length);
  });

  it('is the same for what does not: ID, flags, EDNS size', () => {
    assert.equal(cacheKey(query({ id: 9, flags: 0x100, edns: { udpSize: 4096, version: 0, dnssecOk: false } })), cacheKey(query({})));
  });
});
