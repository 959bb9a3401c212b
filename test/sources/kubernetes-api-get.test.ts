/**
 * The Kubernetes source's GETs (sources/kubernetes/api-get.ts) against the test API server over
 * HTTPS: the CA of the kubeconfig is enforced, the pages of a list and the watches after it share
 * one connection, and a response cut short is an error. A watch's stream is taken line by line,
 * whatever the chunks, and ends once with what ended it: the server, a status, silence.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { getJson, watchEvents } from '../../src/sources/kubernetes/api-get.ts';
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

/** A watch of /api/v1/services on a plain HTTP server that answers it with `respond`, until it ends. */
async function watchRaw(respond: (response: ServerResponse) => void, idleMs?: number): Promise<{ events: string[]; error: Error | null }> {
  const server = createServer((_request, response) => respond(response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = new KubeConfig();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  config.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  try {
    return await watchToEnd(config, '/api/v1/services', {}, idleMs);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** Watches `path` until it ends; resolves with the events' types and names, and how it ended. */
function watchToEnd(config: KubeConfig, path: string, query: Record<string, string>, idleMs = 10_000): Promise<{ events: string[]; error: Error | null }> {
  return new Promise((resolve) => {
    const events: string[] = [];
    void watchEvents(config, path, query, idleMs, (type, object) => events.push(`${type} ${(object as { metadata?: { name?: string } })?.metadata?.name}`), (error) => resolve({ events, error }));
  });
}

describe('watchEvents', () => {
  it('watches over the connection the list used, and the next watch reuses it once the server ends the first', async () => {
    const api = await FakeApiServer.start({ tls: true });
    for (let n = 0; n < 3; n++) api.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}` } });
    try {
      const config = kubeConfig(api, api.caPem);
      await listPage(config, '/api/v1/namespaces', { limit: 10 });
      for (let round = 0; round < 2; round++) {
        const { events, error } = await watchToEnd(config, '/api/v1/namespaces', { timeoutSeconds: '1' });
        assert.deepEqual(events, ['ADDED ns0', 'ADDED ns1', 'ADDED ns2'], `watch ${round + 1}`);
        assert.equal(error, null, 'the server ended it');
      }
      assert.equal(api.connections, 1, 'one TLS connection for the list and both watches');
    } finally {
      await api.stop();
    }
  });

  it('takes events split across chunks and several in one chunk, skips a line that is not JSON, and drops an unfinished last line', async () => {
    const { events, error } = await watchRaw((response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MODI');
      setTimeout(() => response.write('FIED","object":{"metadata":{"name":"a"}}}\nnot json\n{"type":"DELETED","object":{"metadata":{"name":"a"}}}\n{"type":"ADDED"'), 20);
      setTimeout(() => response.end(), 40);
    });
    assert.deepEqual(events, ['ADDED a', 'MODIFIED a', 'DELETED a']);
    assert.equal(error, null);
  });

  it('ends with the status code of a refused watch, for the reflector to read', async () => {
    const { events, error } = await watchRaw((response) => {
      response.writeHead(403, { 'Content-Type': 'application/json' });
      response.end('{"kind":"Status","code":403,"message":"services is forbidden"}');
    });
    assert.deepEqual(events, []);
    assert.equal((error as { statusCode?: number }).statusCode, 403);
    assert.match(error!.message, /HTTP 403 from a watch of \/api\/v1\/services: .*forbidden/);
  });

  it('ends a watch that stays silent for idleMs with a TimeoutError (a hung watch)', async () => {
    const { events, error } = await watchRaw((response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
    }, 300);
    assert.deepEqual(events, ['ADDED a']);
    assert.equal(error?.name, 'TimeoutError');
  });
});
