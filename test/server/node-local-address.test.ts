/**
 * The `ip` commands node-local mode runs, against a stand-in for `ip` that keeps a link table the
 * way the kernel answers: a dummy link where the kernel has them (the test machines' kernel does
 * not, so test/e2e/node-local.test.ts covers lo for real), "File exists" for what a killed
 * predecessor left, and a failure half-way that must leave nothing behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { type IpCommand, setUpNodeLocalAddresses } from '../../src/server/node-local-address.ts';

const log = pino({ level: 'silent' });

/** A kernel's links and their addresses, changed by `ip` commands as the kernel would. */
function fakeKernel(options: { dummy: boolean; failOn?: string }) {
  const links = new Map<string, Set<string>>([['lo', new Set(['127.0.0.1/8'])]]);
  const commands: string[] = [];
  const ip: IpCommand = async (args) => {
    const line = args.join(' ');
    commands.push(line);
    if (options.failOn && line.includes(options.failOn)) throw new Error(`ip ${line}: RTNETLINK answers: Operation not permitted`);
    const [object, verb, ...rest] = args;
    if (object === 'link' && verb === 'add') {
      if (!options.dummy) throw new Error(`ip ${line}: Error: Unknown device type.`);
      if (links.has(rest[0]!)) throw new Error(`ip ${line}: RTNETLINK answers: File exists`);
      links.set(rest[0]!, new Set());
    } else if (object === 'link' && verb === 'del') {
      if (!links.delete(rest[0]!)) throw new Error(`ip ${line}: Cannot find device`);
    } else if (object === 'addr') {
      const [address, , device] = rest;
      const addresses = links.get(device!);
      if (!addresses) throw new Error(`ip ${line}: Cannot find device`);
      if (verb === 'add') {
        // What iproute2 6.1 and busybox 1.35 say, seen on the test machine.
        if (addresses.has(address!)) throw new Error(`ip ${line}: ${address!.includes(':') ? 'RTNETLINK answers: File exists' : 'Error: ipv4: Address already assigned.'}`);
        addresses.add(address!);
      } else if (!addresses.delete(address!)) throw new Error(`ip ${line}: RTNETLINK answers: Cannot assign requested address`);
    }
  };
  const table = () => Object.fromEntries([...links].map(([name, addresses]) => [name, [...addresses]]));
  return { ip, links, commands, table };
}

const config = { addresses: ['169.254.20.10', 'fd00::53'], interface: 'nodelocaldns' };

describe('node-local addresses', () => {
  it('go on a dummy link lbdns creates, /32 and /128, and leave with it', async () => {
    const kernel = fakeKernel({ dummy: true });
    const set = await setUpNodeLocalAddresses(config, log, kernel.ip);
    assert.equal(set.device, 'nodelocaldns');
    assert.deepEqual(kernel.table(), { lo: ['127.0.0.1/8'], nodelocaldns: ['169.254.20.10/32', 'fd00::53/128'] });
    assert.ok(kernel.commands.includes('link set nodelocaldns up'));
    await set.remove();
    assert.deepEqual(kernel.table(), { lo: ['127.0.0.1/8'] });
  });

  it('go on lo where the kernel has no dummy links, and only they leave it', async () => {
    const kernel = fakeKernel({ dummy: false });
    const set = await setUpNodeLocalAddresses(config, log, kernel.ip);
    assert.equal(set.device, 'lo');
    assert.deepEqual(kernel.table(), { lo: ['127.0.0.1/8', '169.254.20.10/32', 'fd00::53/128'] });
    await set.remove();
    assert.deepEqual(kernel.table(), { lo: ['127.0.0.1/8'] });
  });

  it('take over what a killed predecessor left (File exists), and remove it on the way out', async () => {
    const kernel = fakeKernel({ dummy: true });
    kernel.links.set('nodelocaldns', new Set(['169.254.20.10/32']));
    const set = await setUpNodeLocalAddresses(config, log, kernel.ip);
    assert.deepEqual(kernel.table().nodelocaldns, ['169.254.20.10/32', 'fd00::53/128']);
    await set.remove();
    assert.equal(kernel.links.has('nodelocaldns'), false);

    const onLo = fakeKernel({ dummy: false });
    onLo.links.get('lo')!.add('169.254.20.10/32');
    await (await setUpNodeLocalAddresses(config, log, onLo.ip)).remove();
    assert.deepEqual(onLo.table(), { lo: ['127.0.0.1/8'] });
  });

  it('leave nothing behind when one cannot be added (no NET_ADMIN), and say why', async () => {
    for (const dummy of [true, false]) {
      const kernel = fakeKernel({ dummy, failOn: 'fd00::53' });
      await assert.rejects(setUpNodeLocalAddresses(config, log, kernel.ip), /fd00::53\/128 .*Operation not permitted/);
      assert.deepEqual(kernel.table(), { lo: ['127.0.0.1/8'] }, `dummy links: ${dummy}`);
    }
  });
});
