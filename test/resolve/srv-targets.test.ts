/**
 * SRV targets and their glue (RFC 2782), table-driven: from a name's entries, which become SRV
 * records, which address records go in the additional section, and which of those belong to
 * each record (what a response that sends only some records carries).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecordEncoder, type SrvSource, srvTargets } from '../../src/resolve/answer-builder.ts';

const Q = '_http._tcp.web.shop.svc.cluster.local';
const entry = (name: string, port: number, ip: string): SrvSource => ({ name: `${name}.web.shop.svc.cluster.local`, port, ip });
const key = (source: SrvSource) => `${source.name.split('.')[0]}:${source.port}`;
const glueKey = (source: SrvSource) => `${source.name.split('.')[0]}=${source.ip}`;

interface Case {
  name: string;
  entries: SrvSource[];
  /** target:port of each SRV record, in order. */
  records: string[];
  /** target=address of each glue record, in order. */
  glue: string[];
  /** Per record, the glue that goes with it. */
  glueOf: string[][];
}

const CASES: Case[] = [
  { name: 'nothing', entries: [], records: [], glue: [], glueOf: [] },
  { name: 'entries without a port make neither records nor glue', entries: [entry('a', -1, '10.0.0.1')], records: [], glue: [], glueOf: [] },
  {
    name: 'one endpoint, two ports: two records sharing one glue record',
    entries: [entry('a', 80, '10.0.0.1'), entry('a', 443, '10.0.0.1')],
    records: ['a:80', 'a:443'],
    glue: ['a=10.0.0.1'],
    glueOf: [['a=10.0.0.1'], ['a=10.0.0.1']],
  },
  {
    name: 'a target with two addresses (dual stack): one record, both addresses as its glue',
    entries: [entry('a', 80, '10.0.0.1'), entry('a', 80, 'fd00::1'), entry('b', 80, '10.0.0.2')],
    records: ['a:80', 'b:80'],
    glue: ['a=10.0.0.1', 'a=fd00::1', 'b=10.0.0.2'],
    glueOf: [['a=10.0.0.1', 'a=fd00::1'], ['b=10.0.0.2']],
  },
  {
    name: 'the same entry listed twice counts once; a portless entry of another target is left out',
    entries: [entry('a', 80, '10.0.0.1'), entry('c', -1, '10.0.0.3'), entry('a', 80, '10.0.0.1'), entry('b', 80, '10.0.0.2')],
    records: ['a:80', 'b:80'],
    glue: ['a=10.0.0.1', 'b=10.0.0.2'],
    glueOf: [['a=10.0.0.1'], ['b=10.0.0.2']],
  },
];

describe('SRV targets and glue', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const encoder = new RecordEncoder(Q);
      const { targets, glue, glueOf } = srvTargets(encoder, c.entries, (e) => e, 30);
      assert.deepEqual(targets.map(key), c.records);
      const glueSources = c.glue.map((g) => c.entries.find((e) => glueKey(e) === g)!);
      assert.deepEqual(glue, glueSources.map((e) => encoder.address(e.name, e.ip, 30)));
      assert.equal(glueOf.additional, glue);
      const of = targets.map((_, i) => Array.from(glueOf.index.subarray(glueOf.start[i], glueOf.start[i + 1]), (at) => c.glue[at]));
      assert.deepEqual(of, c.glueOf);
    });
  }
});
