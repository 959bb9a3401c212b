/**
 * `pods` on a settings reload, against the list/watch test API server: the mode decides whether
 * Pods are watched at all, so a reload cannot switch it half way (pods: verified with no Pod
 * watch would answer NXDOMAIN for every real pod). It waits for a restart: logged as such, the
 * running mode kept whole, with one serving thread and with workers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { startLbdns, tempFile } from '../helpers/lbdns-process.ts';
import { answerData, query } from '../helpers/dns-client.ts';

// A test that throws before its own stop() must not leave an API server that keeps this file running.
after(() => FakeApiServer.stopAll());

describe('pods: insecure → verified by a reload', () => {
  for (const workers of [1, 2]) {
    it(`waits for a restart and keeps answering as before (workers: ${workers})`, async () => {
      const api = await FakeApiServer.start({ bookmarkIntervalMs: 500 });
      api.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } });
      api.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'a' }, spec: { clusterIP: '10.96.1.1', clusterIPs: ['10.96.1.1'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
      api.upsert({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, status: { phase: 'Running', podIP: '10.244.9.9', podIPs: [{ ip: '10.244.9.9' }] } });
      const kubeconfig = tempFile('kubeconfig', '');
      api.writeKubeconfig(kubeconfig);
      const config = tempFile('lbdns.yaml', 'pods: insecure\nkubernetes:\n  retryMaxSeconds: 2\n');
      const server = await startLbdns({ objects: null, config, args: ['--kubeconfig', kubeconfig], workers });
      try {
        await server.waitForLog((l) => l.msg === 'first sync complete');
        writeFileSync(config, 'pods: verified\nttl: 11\nkubernetes:\n  retryMaxSeconds: 2\n');
        server.process.kill('SIGHUP');
        const restart = await server.waitForLog((l) => l.msg === 'these settings take effect only after a restart');
        assert.deepEqual(restart.keys, ['pods']);
        await server.waitForLog((l) => l.msg === 'settings reloaded');
        const real = await query(server.port, '10-244-9-9.a.pod.cluster.local', 'A');
        assert.deepEqual(answerData(real, 'A'), ['10.244.9.9'], 'the real pod still resolves');
        assert.equal(real.answers?.[0]?.ttl, 11, 'the rest of the reload is in');
        assert.deepEqual(answerData(await query(server.port, '10-1-2-3.a.pod.cluster.local', 'A'), 'A'), ['10.1.2.3'], 'still insecure, whole');
        assert.ok(!api.requests.some((r) => r.path === '/api/v1/pods'), 'Pods are not listed until the restart');
      } finally {
        await server.stop();
        await api.stop();
      }
    });
  }
});
