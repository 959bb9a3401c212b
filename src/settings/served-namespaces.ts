import type { Settings } from './schema.ts';

/** Whether the `namespaces` setting serves this namespace: the ones it lists, or every one when it lists none. */
export function servesNamespace(settings: Pick<Settings, 'namespaces'>, namespace: string): boolean {
  const listed = settings.namespaces;
  return listed.length === 0 || listed.includes(namespace);
}
