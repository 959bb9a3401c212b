/**
 * What resolution hands to the server: the answer prepared for a name, what a router decides,
 * and what that answer depends on. The contracts live here, below the server that consumes them,
 * so that resolvers never reach up into server/ for their own result types.
 */
import { type AnswerLayout, type FixedAnswer, type ResponseRecords, layoutAnswer } from '../wire/message.ts';
import type { RecordGlue } from '../wire/record-glue.ts';
import { type BalancePlan, type PlanData, planData, revivePlan } from '../balance/plan.ts';
import type { Client } from '../balance/client.ts';
import { keepJoined } from '../util/kept-bytes.ts';

/** An answer as the resolver prepares it, once per (name, type) until a change it depends on. */
export interface PreparedAnswer extends ResponseRecords {
  /** Encoded answer records. Records at `balancedFrom` and after may be reordered or cut per response. */
  answers: Buffer[];
  /** How to order the balanced records; null: a uniform shuffle. */
  plan: BalancePlan | null;
  /** SRV under the zone policy: the balanced records again with priority 1, sent in their place for targets outside the client's zone. */
  otherZoneRecords?: readonly Buffer[] | null;
  /** internalTrafficPolicy: Local: what a client on a node without endpoints gets (the ClusterIP records, or none). */
  localFallback?: readonly Buffer[];
  /** SRV: the additional records of each balanced record, so a response that sends some carries only their glue. */
  glue?: RecordGlue | null;
  /**
   * A CNAME's target outside the served zones (an ExternalName Service): its records, looked up
   * upstream per query (from the forwarding cache), complete the answer, as CoreDNS does.
   */
  chase?: string;
  authority: Buffer[];
  additional: Buffer[];
}

/** What the router decides for a name: a prepared answer, a bare rcode, or "ask upstream". */
export type Routed = PreparedAnswer | { rcode: number } | { forward: true };

/** One frozen `{ rcode }` per value (an rcode is 4 bits), shared by every route kept as its bytes alone. */
const BARE_RCODES: ReadonlyArray<{ readonly rcode: number }> = Array.from({ length: 16 }, (_, rcode) => Object.freeze({ rcode }));

/** The route of an answer kept as its bytes alone (FixedAnswer): its rcode, as a shared object. */
export function bareRcode(rcode: number): { readonly rcode: number } {
  return BARE_RCODES[rcode & 0xf] as { readonly rcode: number };
}

/** A route as plain data, for another thread: a plan goes without its groups (balance/plan.ts). */
export type RoutedData = Exclude<Routed, PreparedAnswer> | (Omit<PreparedAnswer, 'plan'> & { plan: PlanData | null });

export function routeData(routed: Routed): RoutedData {
  return 'answers' in routed && routed.plan !== null ? { ...routed, plan: planData(routed.plan) } : routed;
}

/** The route `routeData` made, its plan's groups built again. */
export function reviveRoute(data: RoutedData): Routed {
  if (!('answers' in data)) return data;
  return { ...data, plan: data.plan !== null ? revivePlan(data.plan) : null };
}

/** What an answer was built from: one Service, one namespace, or anything in the view. */
export type AnswerScope = { scope: 'global' } | { scope: 'namespace'; namespace: string } | { scope: 'service'; namespace: string; service: string };

export const GLOBAL_SCOPE: AnswerScope = { scope: 'global' };

/** A scope as text: '' for global, `namespace/` or `namespace/service`; equal scopes give equal texts. */
export const GLOBAL_SCOPE_KEY = '';

export function scopeKey(scope: AnswerScope): string {
  if (scope.scope === 'global') return GLOBAL_SCOPE_KEY;
  return scope.scope === 'namespace' ? `${scope.namespace}/` : `${scope.namespace}/${scope.service}`;
}

export interface RouteResult {
  answer: Routed;
  /** The zone that answered ('.' for names that go upstream), for metrics. */
  zone: string;
  /** What the answer depends on, so a change elsewhere keeps it cached. */
  scope: AnswerScope;
}

/** The lines that depend on the client only through its placement: explain.ts renders them, computed once per (Service, placement) and view change. */
export interface ExplanationLines {
  /** Before the client line. */
  head: string[];
  /** After it: endpoints, what was left out, why records are trimmed. */
  tail: string[];
}

export interface Router {
  /** `questionName`: the response's question, when it is not the name answered (autopath). */
  route(qname: string, qtype: number, questionName?: string): RouteResult;
  /**
   * The explanation of a Service name's answer for a client placed as `client` (a CHAOS TXT
   * query), or null when the name is not a Service. Costs as much as the Service is large: the
   * caller keeps it until the view changes. Absent: CHAOS queries are refused.
   */
  explain?(qname: string, client: Client): ExplanationLines | null;
}

/** The answer's layout, or a fresh one when it has none that matches (an answer assembled per query). */
export function answerLayout(answer: PreparedAnswer): AnswerLayout {
  const layout = answer.layout;
  if (layout && layout.balancedCount === answer.answers.length - answer.balancedFrom) return layout;
  return layoutAnswer(answer.answers, answer.balancedFrom, answer.additional, answer.plan === null);
}

/**
 * The answer as one run of bytes every client gets alike (what the handler's fast path copies),
 * or null when its records are ordered or completed per response.
 */
export function toFixedAnswer(answer: PreparedAnswer, join: (parts: readonly Uint8Array[]) => Buffer = keepJoined): FixedAnswer | null {
  const balanced = answer.answers.length - answer.balancedFrom;
  if (answer.chase || balanced > 1 || (balanced === 1 && answer.plan !== null)) return null;
  let additionalAt = 0;
  for (const record of answer.answers) additionalAt += record.length;
  for (const record of answer.authority) additionalAt += record.length;
  return {
    rcode: answer.rcode,
    authoritative: answer.authoritative,
    // By default kept as long as the answer is cached: out of Node's pool (util/kept-bytes.ts).
    records: join([...answer.answers, ...answer.authority, ...answer.additional]),
    answers: answer.answers.length,
    authority: answer.authority.length,
    additional: answer.additional.length,
    additionalAt,
  };
}
