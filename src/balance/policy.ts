/**
 * Which balancing a Service's answers get: the settings, overridden per Service by its
 * `lbdns.io/` annotations, and its own `spec.sessionAffinity`.
 */
import type { Settings } from '../settings/schema.ts';
import type { Service } from '../view/types.ts';

export type Policy = 'shuffle' | 'weighted' | 'zone';
export type ClientSort = 'rfc6724' | 'single' | 'none';

export const Annotation = {
  answer: 'lbdns.io/answer',
  policy: 'lbdns.io/policy',
  weights: 'lbdns.io/weights',
  maxAnswers: 'lbdns.io/max-answers',
  clientSort: 'lbdns.io/client-sort',
} as const;

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
  const policy = (annotatedPolicy && policies.has(annotatedPolicy) ? annotatedPolicy : settings.balance.policy) as Policy;
  const balanced = endpointMode || (service.headless && annotatedPolicy !== undefined && policies.has(annotatedPolicy));
  const annotatedMax = Number(annotations[Annotation.maxAnswers]);
  return {
    endpointMode,
    balanced,
    policy: balanced ? policy : 'shuffle',
    affinity: service.sessionAffinity === 'ClientIP' && (endpointMode || service.headless),
    clientSort: balanced ? ((clientSorts.has(annotations[Annotation.clientSort] ?? '') ? annotations[Annotation.clientSort] : settings.balance.clientSort) as ClientSort) : 'none',
    maxAnswers: Number.isInteger(annotatedMax) && annotatedMax >= 0 ? annotatedMax : settings.balance.maxAnswers,
    local: service.internalTrafficPolicy === 'Local' && (endpointMode || service.headless),
  };
}
