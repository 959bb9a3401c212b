/**
 * Every answer with several records comes in a fresh uniform order: each endpoint leads about
 * equally often. Pearson's chi-square over first positions, at a significance of 0.001.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RunningServer, startLbdns } from '../helpers/lbdns-process.ts';
import { query } from '../helpers/dns-client.ts';

let server: RunningServer;
before(async () => {
  server = await startLbdns();
});
after(async () => {
  await server.stop();
});

/** Chi-square critical values at p = 0.001 by degrees of freedom. */
const CRITICAL_0_001: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47 };

async function firstPositionCounts(name: string, type: string, samples: number, key: (data: unknown) => string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < samples; i++) {
    const reply = await query(server.port, name, type);
    const first = reply.answers?.[0] as { data: unknown } | undefined;
    assert.ok(first);
    counts.set(key(first.data), (counts.get(key(first.data)) ?? 0) + 1);
  }
  return counts;
}

function assertUniform(counts: Map<string, number>, categories: number, samples: number): void {
  assert.equal(counts.size, categories, `every record leads sometimes: ${JSON.stringify([...counts])}`);
  const expected = samples / categories;
  let chiSquare = 0;
  for (const observed of counts.values()) chiSquare += (observed - expected) ** 2 / expected;
  const critical = CRITICAL_0_001[categories - 1] as number;
  assert.ok(chiSquare < critical, `chi-square ${chiSquare.toFixed(2)} >= ${critical}: ${JSON.stringify([...counts])}`);
}

describe('shuffled answers', () => {
  it('puts each of 4 headless endpoints first about equally often (A)', async () => {
    const samples = 2000;
    assertUniform(await firstPositionCounts('workers.shop.svc.cluster.local', 'A', samples, String), 4, samples);
  });

  it('shuffles SRV records too', async () => {
    const samples = 1200;
    const counts = await firstPositionCounts('_jobs._tcp.workers.shop.svc.cluster.local', 'SRV', samples, (d) => (d as { target: string }).target);
    assertUniform(counts, 4, samples);
  });

  it('changes the order between consecutive answers (not a rotation)', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const reply = await query(server.port, 'workers.shop.svc.cluster.local', 'A');
      orders.add(reply.answers!.map((a) => (a as { data: string }).data).join(','));
    }
    // 24 orders exist; a rotation would give only 4.
    assert.ok(orders.size > 12, `${orders.size} distinct orders in 200 answers`);
  });
});
