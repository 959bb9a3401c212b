/**
 * ExternalName completion, as CoreDNS does it: an ExternalName Service's name answers a CNAME to a
 * name outside the served zones, and the target's own records, looked up upstream per query (from
 * the forwarding cache), follow the CNAME in the same answer, so the client needs no second query.
 * This is resolution work; the server only decides whether the client may make lbdns ask upstream.
 */
import { RCode } from '../wire/constants.ts';
import { encodeNameAgainst } from '../wire/name.ts';
import type { Query } from '../wire/query.ts';
import { answerRecordsFor } from '../wire/relocate.ts';
import type { Forwarder } from '../forward/forwarder.ts';
import type { PreparedAnswer } from './answer.ts';

/** The forwarder's lookup that completion needs: a name asked upstream on a client's behalf. */
export type UpstreamLookup = Pick<Forwarder, 'lookupName'>;

/**
 * `answer` (a CNAME to `target`) completed with the target's records of the query's type; the
 * CNAME alone when upstream has none, fails or does not answer. The added records, relocated
 * under the query's name, are sent as given: nothing after them is reordered per client.
 */
export async function completeExternalName(answer: PreparedAnswer, target: string, query: Query, upstream: UpstreamLookup, client: string): Promise<PreparedAnswer> {
  const response = await upstream.lookupName(target, query.qtype, query.edns?.dnssecOk ?? false, client);
  const records = response && response.rcode === RCode.NOERROR ? answerRecordsFor(response, query.qname, encodeNameAgainst) : null;
  if (!records) return answer;
  return { ...answer, answers: [...answer.answers, ...records], balancedFrom: answer.answers.length + records.length };
}
