/**
 * Which balancing a Service's answers get: the settings, overridden per Service by its
 * `lbdns.io/` annotations, and its own `spec.sessionAffinity`.
 */
import type { Settings } from '../settings/schema.ts';
import type { Service } from '../view/types.ts';
import { parseSlowStartSeconds } from './slow-start.ts';

/** 'node' comes only from spec.trafficDistribution: PreferSameNode (client's node, then zone, then all). */
export type Policy = 'shuffle' | 'weighted' | 'zone' | 'node';
export type ClientSort = 'rfc6724' | 'single' | 'none';

export const Annotation = {
  answer: 'lbdns.io/answer',
  policy: 'lbdns.io/policy',
  weights: 'lbdns.io/weights',
  maxAnswers: 'lbdns.io/max-answers',
  clientSort: 'lbdns.io/client-sort',
  /** "true": endpoint mode answers A/AAAA with endpoints even though a port maps to another target port. */
  ignoreTargetPort: 'lbdns.io/ignore-target-port',
  slowStart: 'lbdns.io/slow-start-seconds',
} as const;

/** Whether the Service's annotation asks for endpoint addresses in spite of a port mapping. */
export function ignoresTargetPort(service: Service): boolean {
  return service.annotations[Annotation.ignoreTargetPort] === 'true';
}

export interface ServiceBalance {
  /** A ClusterIP Service answered with its endpoints instead of its ClusterIP. */
  endpointMode: boolean;
  /**
   * Answers ordered by the policy (endpoint mode, or a headless Service that opted in with
   * lbdns.io/policy). Otherwise a headless answer stays as the specification has it: every ready
   * endpoint, uniformly shuffled.
   */
  balanced: boolean;
  policy: Policy;
  /**
   * The Service's sessionAffinity: ClientIP, in endpoint mode and for headless Services. Every
   * other answer of more than one record (SRV per port, unweighted headless SRV) follows it too,
   * keeping its records (resolve/balanced-answers.ts withAffinity); a ClusterIP A/AAAA answer is
   * one record, so there is nothing to keep.
   */
  affinity: boolean;
  clientSort: ClientSort;
  maxAnswers: number;
  /**
   * Slow start's window (0: off): the annotation's, else the settings' for balanced answers. A
   * headless Service that does not balance ramps only with the annotation (an opt-in).
   */
  slowStartSeconds: number;
  /** Answers limited to the client's node/zone when hints name it (trafficDistribution, balance.trafficDistribution: limit). */
  limitHinted: boolean;
  /** Why this policy, for explanations: which of annotation, trafficDistribution or settings chose it. */
  reason: string;
  /**
   * internalTrafficPolicy: Local, in endpoint mode or headless: a client gets only its own node's
   * endpoints (none there: balance.emptyFallback).
   */
  local: boolean;
}

const policies = new Set<string>(['shuffle', 'weighted', 'zone']);
const clientSorts = new Set<string>(['rfc6724', 'single', 'none']);

export function serviceBalance(service: Service, settings: Settings): ServiceBalance {
  const annotations = service.annotations;
  const answer = annotations[Annotation.answer] ?? settings.balance.answer;
  const endpointMode = !service.headless && service.type !== 'ExternalName' && answer === 'endpoints';
  const annotatedPolicy = annotations[Annotation.policy];
  const annotated = annotatedPolicy !== undefined && policies.has(annotatedPolicy);
  // The lbdns.io/policy annotation wins; else the Service's own trafficDistribution; else the settings.
  const distribution = annotated ? null : service.trafficDistribution;
  const policy: Policy = annotated ? (annotatedPolicy as Policy) : distribution === 'PreferSameNode' ? 'node' : distribution ? 'zone' : settings.balance.policy;
  const balanced = endpointMode || (service.headless && (annotated || distribution !== null));
  const annotatedMax = Number(annotations[Annotation.maxAnswers]);
  const slowStartText = annotations[Annotation.slowStart];
  const annotatedSlowStart = slowStartText === undefined ? null : parseSlowStartSeconds(slowStartText);
  const answersEndpoints = endpointMode || service.headless;
  return {
    endpointMode,
    balanced,
    policy: balanced ? policy : 'shuffle',
    affinity: service.sessionAffinity === 'ClientIP' && (endpointMode || service.headless),
    clientSort: balanced ? ((clientSorts.has(annotations[Annotation.clientSort] ?? '') ? annotations[Annotation.clientSort] : settings.balance.clientSort) as ClientSort) : 'none',
    maxAnswers: Number.isInteger(annotatedMax) && annotatedMax >= 0 ? annotatedMax : settings.balance.maxAnswers,
    slowStartSeconds: !answersEndpoints ? 0 : (annotatedSlowStart ?? (balanced ? settings.balance.slowStartSeconds : 0)),
    limitHinted: balanced && distribution !== null && settings.balance.trafficDistribution === 'limit',
    reason: annotated ? `annotation ${Annotation.policy}` : distribution ? `trafficDistribution ${distribution} (${settings.balance.trafficDistribution})` : 'settings balance.policy',
    local: service.internalTrafficPolicy === 'Local' && (endpointMode || service.headless),
  };
}
