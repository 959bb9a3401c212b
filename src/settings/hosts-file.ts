/** The hosts file format (hosts(5)): "ADDRESS NAME [ALIAS…]" per line, "#" starts a comment. */
import { canonicalIp } from '../net/ip.ts';
import { NameError, encodeName } from '../wire/name.ts';

export interface HostsEntry {
  address: string;
  /** Lower case, without the final dot. */
  names: string[];
}

/** What is wrong with one line, or null when it reads as a hosts entry (or is blank or a comment). */
export function hostsLineProblem(line: string): string | null {
  const words = line.replace(/#.*/, '').trim().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return null;
  const [address, ...names] = words;
  if (!canonicalIp(address!.replace(/%.*/, ''))) return `"${address}" is not an IP address`;
  if (names.length === 0) return `"${address}" names no host`;
  for (const name of names) {
    try {
      encodeName(name.toLowerCase().replace(/\.$/, ''));
    } catch (error) {
      return `"${name}": ${error instanceof NameError ? error.message : String(error)}`;
    }
  }
  return null;
}

/** The entries of a hosts file's text; lines that do not read as entries are skipped, as glibc and CoreDNS do. */
export function parseHostsText(text: string): HostsEntry[] {
  const entries: HostsEntry[] = [];
  for (const line of text.split('\n')) {
    if (hostsLineProblem(line) !== null) continue;
    const words = line.replace(/#.*/, '').trim().split(/\s+/).filter((w) => w !== '');
    if (words.length < 2) continue;
    // A zone index (fe80::1%eth0) has no meaning in an answer.
    const address = canonicalIp(words[0]!.replace(/%.*/, ''))!;
    entries.push({ address, names: words.slice(1).map((n) => n.toLowerCase().replace(/\.$/, '')) });
  }
  return entries;
}
