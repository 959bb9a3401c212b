/**
 * The dotted path of a validation issue, as a user would write it in YAML or JSON:
 * `['upstreams', 0, 'address']` is `upstreams[0].address`. Empty for the root; each caller names
 * the root in its own words ("(settings)", "(object)").
 */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}
