/**
 * lbdns listening on 127.0.0.1 and [::1], forwarding to a stub upstream that answers every name
 * with one A record (192.0.2.9): what tests need that send to both families and want one answer
 * given at once (a cluster name) and one that waits for the upstream (any other name).
 */
import { type RunningServer, type StartOptions, freePort, startLbdns } from './lbdns-process.ts';
import { StubUpstream, reply } from './stub-upstream.ts';

export const UPSTREAM_ANSWER = '192.0.2.9';

export interface DualStackLbdns {
  server: RunningServer;
  upstream: StubUpstream;
  /** The [::1] listener's port (the 127.0.0.1 one is server.port). */
  port6: number;
  stop(): Promise<void>;
}

export async function startDualStackLbdns(options: Omit<StartOptions, 'upstream'> = {}): Promise<DualStackLbdns> {
  const upstream = await StubUpstream.start((q) => [{ bytes: reply(q, { answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 30, data: UPSTREAM_ANSWER }] }) }]);
  const port6 = await freePort();
  let server: RunningServer;
  try {
    server = await startLbdns({ ...options, upstream: `127.0.0.1:${upstream.port}`, args: [...(options.args ?? []), '--listen', `[::1]:${port6}`] });
  } catch (error) {
    await upstream.close();
    throw error;
  }
  return {
    server,
    upstream,
    port6,
    stop: async () => {
      await server.stop();
      await upstream.close();
    },
  };
}
