/**
 * TC only when the answer does not fit, seen by `dig` over real UDP at 512 bytes: a headless
 * Service's SRV answer whose glue does not fit is sent whole, without TC, so dig keeps it
 * (`+ignore`: it would otherwise retry over TCP and hide what UDP carried).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { addresses, asList, headlessService } from '../helpers/objects.ts';
import { run, skipWithoutDig } from '../helpers/tools.ts';

const skip = skipWithoutDig;

describe('dig +noedns: glue is left out before anything is truncated', { skip }, () => {
  let server: RunningServer;
  before(async () => {
    const objects = [...headlessService('default', 'seven', addresses(7)), ...headlessService('default', 'many', addresses(40, 11))];
    server = await startLbdns({ objects: tempFile('objects.yaml', asList(objects)) });
  });
  after(async () => {
    await server.stop();
  });

  const dig = async (...args: string[]): Promise<string> =>
    (await run('dig', ['@127.0.0.1', '-p', String(server.port), '+tries=1', '+time=2', '+noedns', '+ignore', ...args])).stdout;
  const flags = (output: string): string[] => /;; flags: ([a-z ]+);/.exec(output)![1]!.split(' ');

  it('sends all 7 SRV records without TC when only their glue does not fit', async () => {
    const output = await dig('_http._tcp.seven.default.svc.cluster.local', 'SRV');
    assert.ok(!flags(output).includes('tc'), output);
    assert.match(output, /ANSWER: 7,/);
    assert.match(output, /MSG SIZE {2}rcvd: \d+/);
    assert.ok(Number(/rcvd: (\d+)/.exec(output)![1]) <= 512);
  });

  it('sets TC when the SRV records themselves do not fit', async () => {
    const output = await dig('_http._tcp.many.default.svc.cluster.local', 'SRV');
    assert.ok(flags(output).includes('tc'), output);
  });
});
