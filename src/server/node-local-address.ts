/**
 * Node-local mode's addresses (NodeLocal DNSCache's `-localip`, `-interfacename`,
 * `-setupinterface`): before lbdns binds, each address goes on a dummy link it creates (or, where
 * the kernel has no dummy links, on `lo`), as a /32 or /128 so that only this node answers it;
 * when lbdns stops they are removed again, as node-cache does unless told to skip its teardown.
 * Done with iproute2's (or busybox's) `ip`: Node has no netlink socket. Needs CAP_NET_ADMIN.
 */
import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import type { Logger } from 'pino';

/** Runs `ip` with these arguments; rejects with its stderr. */
export type IpCommand = (args: string[]) => Promise<void>;

export const runIp: IpCommand = (args) =>
  new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 5000 }, (error, _stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') reject(new Error('node-local mode needs the ip command (iproute2 or busybox) on PATH'));
      else if (error) reject(new Error(`ip ${args.join(' ')}: ${String(stderr).trim() || error.message}`));
      else resolve();
    });
  });

export interface NodeLocalAddressSettings {
  addresses: string[];
  interface: string;
}

export interface NodeLocalAddresses {
  /** Where the addresses went: the dummy link, or lo. */
  device: string;
  addresses: string[];
  /** Removes what setup added (the dummy link with its addresses, or the addresses on lo). Never rejects. */
  remove(): Promise<void>;
}

/** Already there: "File exists" (busybox, links, IPv6), "Address already assigned" (iproute2 6, IPv4). */
const exists = (error: unknown) => /File exists|already assigned/i.test((error as Error).message);
const prefixed = (address: string) => `${address}/${isIP(address) === 6 ? 128 : 32}`;

export async function setUpNodeLocalAddresses(config: NodeLocalAddressSettings, log: Logger, ip: IpCommand = runIp): Promise<NodeLocalAddresses> {
  let device = config.interface;
  let ownLink = true;
  try {
    await ip(['link', 'add', device, 'type', 'dummy']);
  } catch (error) {
    // Left by a process that was killed before its teardown: take it over.
    if (!exists(error)) {
      log.warn({ interface: device, err: (error as Error).message }, 'cannot create a dummy link; putting the node-local addresses on lo');
      device = 'lo';
      ownLink = false;
    }
  }
  const added: string[] = [];
  const remove = async (): Promise<void> => {
    try {
      if (ownLink) await ip(['link', 'del', device]);
      else for (const address of added) await ip(['addr', 'del', prefixed(address), 'dev', device]);
      log.info({ interface: device, addresses: config.addresses }, 'node-local addresses removed');
    } catch (error) {
      log.error({ interface: device, err: (error as Error).message }, 'cannot remove the node-local addresses');
    }
  };
  try {
    await ip(['link', 'set', device, 'up']);
    for (const address of config.addresses) {
      try {
        await ip(['addr', 'add', prefixed(address), 'dev', device]);
      } catch (error) {
        if (!exists(error)) throw error;
      }
      added.push(address);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  log.info({ interface: device, addresses: config.addresses }, 'node-local addresses set up');
  return { device, addresses: config.addresses, remove };
}
