/**
 * Prepared answers by (type, name), each remembered with what it depends on, so a change to one
 * Service drops only that Service's answers (and the few that depend on everything).
 */
import { LRUCache } from 'lru-cache';
import type { ViewChange } from '../view/cluster-view.ts';

/** What an answer was built from: one Service, one namespace, or anything in the view. */
export type AnswerScope = { scope: 'global' } | { scope: 'namespace'; namespace: string } | { scope: 'service'; namespace: string; service: string };

export const GLOBAL_SCOPE: AnswerScope = { scope: 'global' };

const GLOBAL_KEY = '';

function scopeKey(scope: AnswerScope): string {
  if (scope.scope === 'global') return GLOBAL_KEY;
  return scope.scope === 'namespace' ? `${scope.namespace}/` : `${scope.namespace}/${scope.service}`;
}

interface Entry<T> {
  value: T;
  scope: string;
}

export class AnswerCache<T extends {}> {
  private readonly lru: LRUCache<string, Entry<T>>;
  /** Scope key → cache keys built in that scope. */
  private readonly byScope = new Map<string, Set<string>>();
  /** Namespace → the scope keys inside it that hold entries. */
  private readonly scopesByNamespace = new Map<string, Set<string>>();

  constructor(max: number) {
    this.lru = new LRUCache<string, Entry<T>>({
      max,
      dispose: (entry, key) => this.forget(entry.scope, key),
    });
  }

  get size(): number {
    return this.lru.size;
  }

  get(key: string): T | undefined {
    return this.lru.get(key)?.value;
  }

  set(key: string, value: T, scope: AnswerScope): void {
    const scopeText = scopeKey(scope);
    this.lru.set(key, { value, scope: scopeText });
    let keys = this.byScope.get(scopeText);
    if (!keys) {
      this.byScope.set(scopeText, (keys = new Set()));
      if (scope.scope !== 'global') {
        let scopes = this.scopesByNamespace.get(scope.namespace);
        if (!scopes) this.scopesByNamespace.set(scope.namespace, (scopes = new Set()));
        scopes.add(scopeText);
      }
    }
    keys.add(key);
  }

  clear(): void {
    this.lru.clear();
    this.byScope.clear();
    this.scopesByNamespace.clear();
  }

  invalidate(change: ViewChange): void {
    if (change.scope === 'all') return this.clear();
    this.dropScope(GLOBAL_KEY);
    if (change.scope === 'service') return this.dropScope(`${change.namespace}/${change.service}`);
    for (const scope of [...(this.scopesByNamespace.get(change.namespace) ?? [])]) this.dropScope(scope);
  }

  private dropScope(scope: string): void {
    const keys = this.byScope.get(scope);
    if (!keys) return;
    for (const key of [...keys]) this.lru.delete(key);
  }

  private forget(scope: string, key: string): void {
    const keys = this.byScope.get(scope);
    if (!keys) return;
    keys.delete(key);
    if (keys.size > 0) return;
    this.byScope.delete(scope);
    const namespace = scope.slice(0, scope.indexOf('/'));
    const scopes = this.scopesByNamespace.get(namespace);
    scopes?.delete(scope);
    if (scopes?.size === 0) this.scopesByNamespace.delete(namespace);
  }
}
