/** Invalidation by scope: a change drops only the answers built from what changed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCache, GLOBAL_SCOPE } from '../../src/server/answer-cache.ts';
import { ClusterView, type ViewChange } from '../../src/view/cluster-view.ts';

function filled(): AnswerCache<string> {
  const cache = new AnswerCache<string>(100);
  cache.set('1 web.default.svc.cluster.local', 'web', { scope: 'service', namespace: 'default', service: 'web' });
  cache.set('33 _http._tcp.web.default.svc.cluster.local', 'web-srv', { scope: 'service', namespace: 'default', service: 'web' });
  cache.set('1 api.default.svc.cluster.local', 'api', { scope: 'service', namespace: 'default', service: 'api' });
  cache.set('1 db.shop.svc.cluster.local', 'db', { scope: 'service', namespace: 'shop', service: 'db' });
  cache.set('1 default.svc.cluster.local', 'ns', { scope: 'namespace', namespace: 'default' });
  cache.set('12 20.0.96.10.in-addr.arpa', 'ptr', GLOBAL_SCOPE);
  return cache;
}

const keys = (cache: AnswerCache<string>, all: string[]) => all.filter((k) => cache.get(k) !== undefined);
const ALL = ['1 web.default.svc.cluster.local', '33 _http._tcp.web.default.svc.cluster.local', '1 api.default.svc.cluster.local', '1 db.shop.svc.cluster.local', '1 default.svc.cluster.local', '12 20.0.96.10.in-addr.arpa'];

describe('AnswerCache', () => {
  it('drops one Service’s answers and the global ones on a Service change', () => {
    const cache = filled();
    cache.invalidate({ scope: 'service', namespace: 'default', service: 'web' });
    assert.deepEqual(keys(cache, ALL), ['1 api.default.svc.cluster.local', '1 db.shop.svc.cluster.local', '1 default.svc.cluster.local']);
  });

  it('drops a whole namespace on a namespace change, and everything on a full reload', () => {
    const cache = filled();
    cache.invalidate({ scope: 'namespace', namespace: 'default' });
    assert.deepEqual(keys(cache, ALL), ['1 db.shop.svc.cluster.local']);
    cache.invalidate({ scope: 'all' });
    assert.equal(cache.size, 0);
  });

  it('forgets evicted keys, so a later invalidation does not touch their successors', () => {
    const cache = new AnswerCache<string>(2);
    cache.set('a', 'a', { scope: 'service', namespace: 'n', service: 's' });
    cache.set('b', 'b', GLOBAL_SCOPE);
    cache.set('c', 'c', GLOBAL_SCOPE);
    assert.equal(cache.get('a'), undefined);
    cache.set('a', 'a2', GLOBAL_SCOPE);
    cache.invalidate({ scope: 'service', namespace: 'n', service: 's' });
    assert.equal(cache.get('a'), undefined, 'global entries go with any change');
  });
});

describe('ClusterView change scopes', () => {
  const service = { namespace: 'shop', name: 'db', type: 'ClusterIP' as const, clusterIPs: [], headless: true, externalName: null, ports: [], publishNotReadyAddresses: false, sessionAffinity: 'None' as const, annotations: {} };
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
