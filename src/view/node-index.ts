/**
 * The view's Nodes, indexed for client placement: node name → Node, and pod CIDR → node. A
 * client address is matched longest prefix first with one map per prefix length in use, so a
 * lookup costs at most one masked key per distinct prefix length (≤ 33 for IPv4, 129 for IPv6),
 * whatever the number of nodes.
 */
import { parseCidr } from '../net/cidr.ts';
import type { Node } from './types.ts';

/** The first `bits` bits of `bytes`, as a map key that also says the family. */
function prefixKey(bytes: Uint8Array, bits: number): string {
  let key = bytes.length === 4 ? '4:' : '6:';
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) key += String.fromCharCode(bytes[i]!);
  const rest = bits & 7;
  if (rest > 0) key += String.fromCharCode(bytes[whole]! & ((0xff << (8 - rest)) & 0xff));
  return key;
}

interface Family {
  /** Prefix length → masked prefix key → node name. */
  byLength: Map<number, Map<string, string>>;
  /** The prefix lengths in use, longest first. */
  lengths: number[];
}

export class NodeIndex {
  private readonly nodes = new Map<string, Node>();
  private readonly v4: Family = { byLength: new Map(), lengths: [] };
  private readonly v6: Family = { byLength: new Map(), lengths: [] };

  set(node: Node): void {
    this.remove(node.name);
    this.nodes.set(node.name, node);
    for (const text of node.podCIDRs) {
      const cidr = parseCidr(text);
      if (!cidr) continue;
      const family = cidr.bytes.length === 4 ? this.v4 : this.v6;
      let byKey = family.byLength.get(cidr.prefix);
      if (!byKey) {
        family.byLength.set(cidr.prefix, (byKey = new Map()));
        family.lengths = [...family.byLength.keys()].sort((a, b) => b - a);
      }
      byKey.set(prefixKey(cidr.bytes, cidr.prefix), node.name);
    }
  }

  remove(name: string): void {
    const node = this.nodes.get(name);
    if (!node) return;
    this.nodes.delete(name);
    for (const text of node.podCIDRs) {
      const cidr = parseCidr(text);
      if (!cidr) continue;
      const family = cidr.bytes.length === 4 ? this.v4 : this.v6;
      const byKey = family.byLength.get(cidr.prefix);
      const key = prefixKey(cidr.bytes, cidr.prefix);
      if (byKey?.get(key) !== name) continue;
      byKey.delete(key);
      if (byKey.size === 0) {
        family.byLength.delete(cidr.prefix);
        family.lengths = [...family.byLength.keys()].sort((a, b) => b - a);
      }
    }
  }

  get(name: string): Node | undefined {
    return this.nodes.get(name);
  }

  get size(): number {
    return this.nodes.size;
  }

  all(): IterableIterator<Node> {
    return this.nodes.values();
  }

  /** The node whose pod CIDR holds `address` (the longest such prefix), or undefined. */
  byAddress(address: Uint8Array): Node | undefined {
    const family = address.length === 4 ? this.v4 : address.length === 16 ? this.v6 : null;
    if (!family) return undefined;
    for (const length of family.lengths) {
      const name = family.byLength.get(length)!.get(prefixKey(address, length));
      if (name !== undefined) return this.nodes.get(name);
    }
    return undefined;
  }
}
