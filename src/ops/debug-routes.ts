/**
 * GET /debug/balance?name=<service fqdn>[&client=<ip>]: the balancer's view of one Service. It
 * names pods, nodes and zones, so it is served on the debug address (loopback by default), not
 * on the ops address every pod can reach.
 */
import type { ClusterView } from '../view/cluster-view.ts';
import type { Settings } from '../settings/schema.ts';
import { ClientClassifier } from '../balance/client.ts';
import { explainBalance } from './debug-balance.ts';
import { parseClusterName } from '../resolve/cluster-name.ts';
import { longestZoneOf, splitLabels } from '../wire/name.ts';
import { canonicalIp } from '../net/ip.ts';
import { type OpsRoute, sendJson } from './http-server.ts';

export function debugBalanceRoute(view: ClusterView, currentSettings: () => Settings): OpsRoute {
  return (_request, target, response) => {
    if (target.pathname !== '/debug/balance') return false;
    const settings = currentSettings();
    const name = (target.searchParams.get('name') ?? '').toLowerCase().replace(/\.$/, '');
    const zone = longestZoneOf(name, settings.zones);
    const labels = zone ? splitLabels(name).slice(0, -splitLabels(zone).length) : [];
    const request = zone ? parseClusterName(labels) : null;
    if (!zone || request?.podOrSvc !== 'svc' || !request.service || request.endpoint || request.port) {
      sendJson(response, 400, { error: 'name must be a Service name: <service>.<namespace>.svc.<zone>' });
      return true;
    }
    const service = view.service(request.namespace, request.service);
    if (!service) {
      sendJson(response, 404, { error: `no Service ${request.namespace}/${request.service}` });
      return true;
    }
    const clientText = target.searchParams.get('client');
    const clientIp = clientText ? canonicalIp(clientText) : null;
    if (clientText && !clientIp) {
      sendJson(response, 400, { error: 'client must be an IP address' });
      return true;
    }
    const client = clientIp ? { address: clientIp, info: new ClientClassifier(settings, view).classify(clientIp) } : null;
    sendJson(response, 200, explainBalance(view, settings, service, zone, client));
    return true;
  };
}
