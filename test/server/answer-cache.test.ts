/** The answer cache: questions found by their bytes, and a change drops only the answers built from what changed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCache } from '../../src/server/answer-cache.ts';
import type { QuestionAt } from '../../src/wire/query.ts';
import { type AnswerScope, GLOBAL_SCOPE } from '../../src/resolve/answer.ts';
import { readCommonQuery } from '../../src/wire/query.ts';
import { buildQuery } from '../helpers/dns-client.ts';
import { ClusterView, type ViewChange } from '../../src/view/cluster-view.ts';

/** A query for `question` ("TYPE name", the type by name or number) as a client sends it, and where its question is. */
function ask(question: string): [Buffer, QuestionAt] {
  const [type, name] = question.split(' ') as [string, string];
  const numeric = /^\d+$/.test(type);
  const request = buildQuery(name, numeric ? 'A' : type);
  const at = readCommonQuery(request)!;
  if (numeric) request.writeUInt16BE(Number(type), at.questionEnd - 4);
  return [request, readCommonQuery(request)!];
}
const put = (cache: AnswerCache<string>, question: string, value: string, scope: AnswerScope) => cache.set(...ask(question), value, scope);
const lookup = (cache: AnswerCache<string>, question: string) => cache.get(...ask(question));

function filled(): AnswerCache<string> {
  const cache = new AnswerCache<string>(100);
  put(cache, 'A web.default.svc.cluster.local', 'web', { scope: 'service', namespace: 'default', service: 'web' });
  put(cache, 'SRV _http._tcp.web.default.svc.cluster.local', 'web-srv', { scope: 'service', namespace: 'default', service: 'web' });
  put(cache, 'A api.default.svc.cluster.local', 'api', { scope: 'service', namespace: 'default', service: 'api' });
  put(cache, 'A db.shop.svc.cluster.local', 'db', { scope: 'service', namespace: 'shop', service: 'db' });
  put(cache, 'A default.svc.cluster.local', 'ns', { scope: 'namespace', namespace: 'default' });
  put(cache, 'PTR 20.0.96.10.in-addr.arpa', 'ptr', GLOBAL_SCOPE);
  return cache;
}

const present = (cache: AnswerCache<string>, all: string[]) => all.filter((q) => lookup(cache, q) !== undefined);
const ALL = ['A web.default.svc.cluster.local', 'SRV _http._tcp.web.default.svc.cluster.local', 'A api.default.svc.cluster.local', 'A db.shop.svc.cluster.local', 'A default.svc.cluster.local', 'PTR 20.0.96.10.in-addr.arpa'];

describe('AnswerCache', () => {
  it('finds a question in any letter case, and never another type or name', () => {
    const cache = filled();
    assert.equal(lookup(cache, 'A WEB.Default.svc.CLUSTER.local'), 'web');
    assert.equal(lookup(cache, 'AAAA web.default.svc.cluster.local'), undefined);
    assert.equal(lookup(cache, 'A web.default.svc.cluster.loca'), undefined);
    // Type 65 (HTTPS) ends in the byte of 'A' and 97 in that of 'a' (sameQuestion's own test covers the byte compare).
    put(cache, '65 web.default.svc.cluster.local', 'https', GLOBAL_SCOPE);
    assert.equal(lookup(cache, '97 web.default.svc.cluster.local'), undefined);
    assert.equal(lookup(cache, '65 web.default.svc.cluster.local'), 'https');
  });

  it('drops one Service’s answers and the global ones on a Service change', () => {
    const cache = filled();
    cache.invalidate({ scope: 'service', namespace: 'default', service: 'web' });
    assert.deepEqual(present(cache, ALL), ['A api.default.svc.cluster.local', 'A db.shop.svc.cluster.local', 'A default.svc.cluster.local']);
  });

  it('drops a whole namespace on a namespace change, and everything on a full reload', () => {
    const cache = filled();
    cache.invalidate({ scope: 'namespace', namespace: 'default' });
    assert.deepEqual(present(cache, ALL), ['A db.shop.svc.cluster.local']);
    cache.invalidate({ scope: 'all' });
    assert.equal(cache.size, 0);
  });

  it('drops the rest of a scope whichever of its entries went first (first, middle, last, replaced)', () => {
    const web: AnswerScope = { scope: 'service', namespace: 'default', service: 'web' };
    const names = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `A ${n}.web.default.svc.cluster.local`);
    for (const [first, gone] of [[0, 5], [2, 3], [5, 0]] as const) {
      const cache = new AnswerCache<string>(100);
      for (const name of names) put(cache, name, name, web);
      put(cache, 'A db.shop.svc.cluster.local', 'db', { scope: 'service', namespace: 'shop', service: 'db' });
      // Entries leave a scope one at a time when moved to another scope (a new answer for the question).
      put(cache, names[first]!, 'moved', { scope: 'service', namespace: 'default', service: 'api' });
      put(cache, names[gone]!, 'moved', { scope: 'service', namespace: 'default', service: 'api' });
      cache.invalidate({ scope: 'service', namespace: 'default', service: 'web' });
      assert.deepEqual(present(cache, [...names, 'A db.shop.svc.cluster.local']), [names[Math.min(first, gone)], names[Math.max(first, gone)], 'A db.shop.svc.cluster.local'], `moved ${first} and ${gone}`);
      cache.invalidate({ scope: 'service', namespace: 'default', service: 'api' });
      assert.equal(cache.size, 1, 'only db is left');
    }
  });

  it('forgets evicted keys, so a later invalidation does not touch their successors', () => {
    const cache = new AnswerCache<string>(2);
    put(cache, 'A a.n.svc.cluster.local', 'a', { scope: 'service', namespace: 'n', service: 's' });
    put(cache, 'A b.n.svc.cluster.local', 'b', GLOBAL_SCOPE);
    put(cache, 'A c.n.svc.cluster.local', 'c', GLOBAL_SCOPE);
    assert.equal(lookup(cache, 'A a.n.svc.cluster.local'), undefined);
    put(cache, 'A a.n.svc.cluster.local', 'a2', GLOBAL_SCOPE);
    cache.invalidate({ scope: 'service', namespace: 'n', service: 's' });
    assert.equal(lookup(cache, 'A a.n.svc.cluster.local'), undefined, 'global entries go with any change');
  });

  it('keeps the entries in use when it must evict (second chance), and stays within its size', () => {
    const cache = new AnswerCache<string>(100);
    put(cache, 'A hot.n.svc.cluster.local', 'hot', GLOBAL_SCOPE);
    for (let i = 0; i < 1000; i++) {
      put(cache, `A cold${i}.n.svc.cluster.local`, 'cold', GLOBAL_SCOPE);
      assert.equal(lookup(cache, 'A hot.n.svc.cluster.local'), 'hot');
      assert.ok(cache.size <= 100);
    }
    assert.equal(lookup(cache, 'A cold0.n.svc.cluster.local'), undefined);
    assert.equal(lookup(cache, 'A cold999.n.svc.cluster.local'), 'cold');
  });
});

describe('ClusterView change scopes', () => {
  const service = { namespace: 'shop', name: 'db', type: 'ClusterIP' as const, clusterIPs: [], headless: true, externalName: null, ports: [], publishNotReadyAddresses: false, sessionAffinity: 'None' as const, trafficDistribution: null, annotations: {} };
  const slice = { namespace: 'shop', name: 'db-x', serviceName: 'db', addressType: 'IPv4' as const, ports: [], endpoints: [] };

  it('reports an EndpointSlice change as its Service’s, and a new Service as its namespace’s', () => {
    const view = new ClusterView();
    const changes: ViewChange[] = [];
    view.onChange((c) => changes.push(c));
    view.apply({ op: 'upsert', kind: 'Service', record: service });
    view.apply({ op: 'upsert', kind: 'EndpointSlice', record: slice });
    view.apply({ op: 'upsert', kind: 'Service', record: { ...service, publishNotReadyAddresses: true } });
    view.apply({ op: 'delete', kind: 'EndpointSlice', namespace: 'shop', name: 'db-x' });
    assert.deepEqual(changes, [
      { scope: 'namespace', namespace: 'shop' },
      { scope: 'service', namespace: 'shop', service: 'db' },
      { scope: 'service', namespace: 'shop', service: 'db' },
      { scope: 'service', namespace: 'shop', service: 'db' },
    ]);
  });
});
