/**
 * GET /debug/balance?name=<service fqdn>[&client=<ip>]: the balancer's view of one Service. It
 * names pods, nodes and zones, so it is served on the debug address (loopback by default), not
 * on the ops address every pod can reach.
 */
import type { ClusterView } from '../view/cluster-view.ts';
import type { Settings } from '../settings/schema.ts';
import { ClientClassifier } from '../balance/client.ts';
import { explainBalance, serviceForName } from '../resolve/explain.ts';
import { canonicalIp } from '../net/ip.ts';
import { type OpsRoute, sendJson } from './http-server.ts';

export function debugBalanceRoute(view: ClusterView, currentSettings: () => Settings): OpsRoute {
  return (_request, target, response) => {
    if (target.pathname !== '/debug/balance') return false;
    const settings = currentSettings();
    const found = serviceForName(view, settings, target.searchParams.get('name') ?? '');
    if ('error' in found) {
      sendJson(response, found.status, { error: found.error });
      return true;
    }
    const { service, zone } = found;
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
