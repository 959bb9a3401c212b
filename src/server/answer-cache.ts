/**
 * Prepared answers by question (lowercased name and type, compared as wire bytes, so a repeat
 * query is found without decoding its name), each remembered with what it depends on, so a change
 * to one Service drops only that Service's answers (and the few that depend on everything).
 *
 * Not lru-cache: its get moves an entry on every hit and takes string keys, the two costs a hit
 * here must not pay. Entries are evicted oldest first, except that one used since it was last
 * looked at gets a second chance (CLOCK), which keeps the popular ones.
 */
import { type QuestionAt, questionKey, sameQuestion } from '../wire/query.ts';
import type { ViewChange } from '../view/cluster-view.ts';
import { type AnswerScope, GLOBAL_SCOPE_KEY, scopeKey } from '../resolve/answer.ts';

/**
 * The entries built in one scope, linked through the entries themselves. Each entry points at
 * its group rather than holding the scope's text, and a group holds no set of its own: names
 * that do not exist each have a scope of their own (the Service that would make them exist), so
 * a cache full of them held 50,000 one-key sets, 7 MiB of a worker's heap (heap snapshot).
 */
interface ScopeGroup<T> {
  text: string;
  /** null once the group is empty. */
  first: CachedQuestion<T> | null;
}

/** One cached question: its key and key bytes, the value kept for it, its scope and neighbours in it, CLOCK's used bit. */
interface CachedQuestion<T> {
  key: number;
  question: string;
  value: T;
  scope: ScopeGroup<T>;
  previous: CachedQuestion<T> | null;
  next: CachedQuestion<T> | null;
  used: boolean;
}

export class AnswerCache<T extends {}> {
  private readonly max: number;
  /** Question key → entry; a key two questions share holds the later one. */
  private readonly entries = new Map<number, CachedQuestion<T>>();
  /** Scope key → the entries built in that scope. */
  private readonly byScope = new Map<string, ScopeGroup<T>>();
  /** Namespace → the scope keys inside it that hold entries. */
  private readonly scopesByNamespace = new Map<string, Set<string>>();

  /** Called with each value that leaves (dropped, evicted, replaced, cleared). */
  private readonly onDrop: ((value: T) => void) | null;

  constructor(max: number, onDrop: ((value: T) => void) | null = null) {
    this.max = max;
    this.onDrop = onDrop;
  }

  get size(): number {
    return this.entries.size;
  }

  get(msg: Buffer, at: QuestionAt): T | undefined {
    const entry = this.entries.get(at.key);
    if (entry === undefined || !sameQuestion(msg, at.questionEnd, entry.question)) return undefined;
    entry.used = true;
    return entry.value;
  }

  set(msg: Buffer, at: QuestionAt, value: T, scope: AnswerScope): void {
    const previous = this.entries.get(at.key);
    if (previous) this.remove(previous);
    const scopeText = scopeKey(scope);
    let group = this.byScope.get(scopeText);
    if (!group) {
      this.byScope.set(scopeText, (group = { text: scopeText, first: null }));
      if (scope.scope !== 'global') {
        let scopes = this.scopesByNamespace.get(scope.namespace);
        if (!scopes) this.scopesByNamespace.set(scope.namespace, (scopes = new Set()));
        scopes.add(scopeText);
      }
    }
    const entry: CachedQuestion<T> = { key: at.key, question: questionKey(msg, at.questionEnd), value, scope: group, previous: null, next: group.first, used: false };
    if (group.first) group.first.previous = entry;
    group.first = entry;
    this.entries.set(at.key, entry);
    if (this.entries.size > this.max) this.evictOne();
  }

  clear(): void {
    if (this.onDrop !== null) for (const entry of this.entries.values()) this.onDrop(entry.value);
    this.entries.clear();
    this.byScope.clear();
    this.scopesByNamespace.clear();
  }

  invalidate(change: ViewChange): void {
    if (change.scope === 'all') return this.clear();
    // Where clients are placed is read per query: no prepared answer depends on a Node.
    if (change.scope === 'nodes') return;
    this.dropScope(GLOBAL_SCOPE_KEY);
    if (change.scope === 'service') return this.dropScope(scopeKey({ scope: 'service', namespace: change.namespace, service: change.service }));
    for (const scope of [...(this.scopesByNamespace.get(change.namespace) ?? [])]) this.dropScope(scope);
  }

  /** Drops one Service's answers only (not those that depend on everything): its answers changed, the view did not. */
  dropService(namespace: string, service: string): void {
    this.dropScope(scopeKey({ scope: 'service', namespace, service }));
  }

  /** The oldest entry not used since it was last passed over; used ones move to the back. */
  private evictOne(): void {
    for (const [key, entry] of this.entries) {
      if (!entry.used) return this.remove(entry);
      entry.used = false;
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
  }

  private dropScope(scope: string): void {
    const group = this.byScope.get(scope);
    for (let entry = group?.first ?? null; entry !== null; ) {
      const next = entry.next;
      this.remove(entry);
      entry = next;
    }
  }

  private remove(entry: CachedQuestion<T>): void {
    this.entries.delete(entry.key);
    this.onDrop?.(entry.value);
    const group = entry.scope;
    if (entry.previous) entry.previous.next = entry.next;
    else group.first = entry.next;
    if (entry.next) entry.next.previous = entry.previous;
    // A group already dropped (clear) is not this table's any more.
    if (group.first !== null || this.byScope.get(group.text) !== group) return;
    this.byScope.delete(group.text);
    const namespace = group.text.slice(0, group.text.indexOf('/'));
    const scopes = this.scopesByNamespace.get(namespace);
    scopes?.delete(group.text);
    if (scopes?.size === 0) this.scopesByNamespace.delete(namespace);
  }
}
