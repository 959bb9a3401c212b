/**
 * Hostile EDNS options (fast-check): queries carrying cookies and NSID with bytes changed
 * anywhere, option lengths running past the record included. The handler answers with a response
 * that parses or nothing, never fails inside (it would log 'query handling failed'), and a
 * malformed cookie is FORMERR.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pino } from 'pino';
import * as dnsPacket from 'dns-packet';
import { ClusterView } from '../../src/view/cluster-view.ts';
import { readObjectsFile } from '../../src/sources/objects-file.ts';
import { parseSettings } from '../../src/settings/schema.ts';
import { ZoneRouter } from '../../src/resolve/router.ts';
import { QueryHandler } from '../../src/server/handler.ts';
import { demoObjects } from '../helpers/lbdns-process.ts';
import { buildQuery } from '../helpers/dns-client.ts';

const failures: string[] = [];
const log = pino({ level: 'error' }, new Writable({ write: (chunk, _encoding, done) => (failures.push(String(chunk)), done()) }));
const settings = parseSettings({ nsid: 'fuzz', cookies: { strict: true } });
const view = new ClusterView();
view.replaceAll(readObjectsFile(demoObjects).objects);
const handler = new QueryHandler({ router: new ZoneRouter({ view, settings, serverAddresses: () => ['127.0.0.1'] }), settings, state: { ready: true }, log });

const u8 = fc.integer({ min: 0, max: 255 });

describe('EDNS options from a hostile client', () => {
  it('never fail inside the handler, and every response parses', () => {
    const options = fc.array(
      fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 44 }).map((data) => ({ code: 10, data: Buffer.from(data) })),
        fc.constant({ code: 3, data: Buffer.alloc(0) }),
        fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 20 })).map(([code, data]) => ({ code, data: Buffer.from(data) })),
      ),
      { maxLength: 4 },
    );
    const packets = fc
      .tuple(options, fc.constantFrom('web.default.svc.cluster.local', '_http._tcp.db.default.svc.cluster.local'), fc.array(fc.tuple(fc.nat(), u8), { maxLength: 4 }))
      .map(([ednsOptions, name, edits]) => {
        const request = buildQuery(name, 'A', { udpSize: 1232, ednsOptions });
        // Edits fall in the OPT record's tail (its RDATA lengths and options) or anywhere.
        for (const [at, value] of edits) request[at % 2 === 0 ? request.length - 1 - (at % Math.min(request.length, 48)) : at % request.length] = value;
        request[2] = request[2]! & 0x7f;
        return request;
      });
    fc.assert(
      fc.property(packets, fc.constantFrom<'udp' | 'tcp'>('udp', 'tcp'), (packet, transport) => {
        const response = handler.handle(packet, transport, '10.244.0.5');
        assert.ok(!(response instanceof Promise));
        if (response !== null) assert.doesNotThrow(() => dnsPacket.decode(response));
      }),
      { numRuns: 5000, seed: 23 },
    );
    assert.deepEqual(failures, []);
  });
});
