/**
 * The Kubernetes source's GET (sources/kubernetes/api-get.ts) against the test API server over
 * HTTPS: the CA of the kubeconfig is enforced, the pages of a list share one connection, and a
 * response cut short is an error.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { getJson } from '../../src/sources/kubernetes/api-get.ts';
import { listPage } from '../../src/sources/kubernetes/kubernetes-source.ts';

after(() => FakeApiServer.stopAll());

function kubeConfig(api: FakeApiServer, caPem: string | null): KubeConfig {
  const config = new KubeConfig();
  const cluster = { name: 'fake', server: api.url, skipTLSVerify: false, ...(caPem ? { caData: Buffer.from(caPem).toString('base64') } : {}) };
  config.loadFromOptions({ clusters: [cluster], users: [{ name: 'fake', token: api.token }], contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }], currentContext: 'fake' });
  return config;
}

describe('getJson', () => {
  it('refuses an API server whose certificate the kubeconfig does not trust', async () => {
    const api = await FakeApiServer.start({ tls: true });
    try {
      await assert.rejects(getJson(kubeConfig(api, null), '/api/v1/namespaces'), (error: Error & { code?: string; cause?: { code?: string } }) => /self[- ]signed/i.test(`${error.code} ${error.cause?.code} ${error.message}`));
      assert.equal(api.requests.length, 0, 'no request reached the server');
    } finally {
      await api.stop();
    }
  });

  it('lists page after page over one connection, not a TLS handshake per page', async () => {
    const api = await FakeApiServer.start({ tls: true });
    for (let n = 0; n < 5; n++) api.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}` } });
    try {
      const config = kubeConfig(api, api.caPem);
      const names: string[] = [];
      let continueToken: string | undefined;
      for (let page = 0; page < 10; page++) {
        const listed = await listPage(config, '/api/v1/namespaces', { limit: 1, continueToken });
        names.push(...listed.items.map((item) => (item as { metadata: { name: string } }).metadata.name));
        continueToken = listed.continueToken;
        if (continueToken === undefined) break;
      }
      assert.deepEqual(names, ['ns0', 'ns1', 'ns2', 'ns3', 'ns4']);
      assert.equal(api.connections, 1);
    } finally {
      await api.stop();
    }
  });

  it('turns a status other than 200 into the error the reflector reads the code of', async () => {
    const api = await FakeApiServer.start({ tls: true });
    try {
      await assert.rejects(getJson(kubeConfig(api, api.caPem), '/api/v1/nowhere'), (error: { code?: unknown; message?: string }) => error.code === 404 && /HTTP 404 from \/api\/v1\/nowhere/.test(error.message ?? ''));
    } finally {
      await api.stop();
    }
  });

  it('rejects a response cut off before its end instead of parsing part of it', async () => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
      response.write('{"items":[');
      setTimeout(() => response.socket?.destroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const config = new KubeConfig();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      config.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
      await assert.rejects(getJson(config, '/api/v1/services'), /before its end|aborted|socket hang up/);
    } finally {
      server.close();
    }
  });
});
