/**
 * `npm run bench:scrub`: what rebuilding an upstream answer (forward/scrub.ts) costs per upstream
 * response, for a typical CNAME + 4 A answer and for a 1,000-record one. Cache hits never pay it.
 */
import * as dnsPacket from 'dns-packet';
import { scrubResponse } from '../src/forward/scrub.ts';

const rules = { clusterZones: ['cluster.local'], reverseZones: ['in-addr.arpa', 'ip6.arpa'], maxTtl: 3600 };

function measure(label: string, records: number, rounds: number): void {
  const questions = [{ name: 'www.example.com', type: 'A' as const, class: 'IN' as const }];
  const answers: dnsPacket.Answer[] = [{ type: 'CNAME', name: 'www.example.com', ttl: 60, data: 'cdn.example.net' }];
  for (let i = 0; i < records; i++) answers.push({ type: 'A', name: 'cdn.example.net', ttl: 60, data: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
  const bytes = dnsPacket.encode({ type: 'response', id: 1, flags: 0x8180, questions, answers, authorities: [{ type: 'NS', name: 'example.net', ttl: 60, data: 'ns.example.net' }] });
  const questionEnd = 12 + 17 + 4;
  const asked = { question: bytes.subarray(12, questionEnd), qname: 'www.example.com', qtype: 1, qclass: 1 };
  const results: number[] = [];
  for (let r = 0; r < 5; r++) {
    const started = performance.now();
    for (let i = 0; i < rounds; i++) scrubResponse(bytes, questionEnd, asked, rules);
    results.push(((performance.now() - started) * 1000) / rounds);
  }
  results.sort((a, b) => a - b);
  console.log(`${label} (${bytes.length} bytes): median ${results[2]!.toFixed(1)} µs per response`);
}

measure('CNAME + 4 A', 4, 100_000);
measure('CNAME + 1,000 A', 1000, 500);
