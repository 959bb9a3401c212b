/**
 * Just enough of CoreDNS's Corefile syntax (Caddyfile) to read a snippet the way CoreDNS would:
 * server blocks `zone:port { … }`, one directive per line with its arguments, directives with a
 * `{ … }` block of their own, `#` comments. Unbalanced braces throw, as CoreDNS refuses to load.
 */
export interface Directive {
  name: string;
  args: string[];
  block: Directive[];
}

export interface ServerBlock {
  keys: string[];
  directives: Directive[];
}

function tokenLines(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => {
      const tokens: string[] = [];
      for (const word of line.trim().split(/\s+/)) {
        if (word === '' ) continue;
        if (word.startsWith('#')) break;
        // "name{" and "}" glued to a word are still braces of their own.
        const open = word.length > 1 && word.endsWith('{');
        const body = open ? word.slice(0, -1) : word;
        if (body) tokens.push(body);
        if (open) tokens.push('{');
      }
      return tokens;
    })
    .filter((tokens) => tokens.length > 0);
}

export function parseCorefile(text: string): ServerBlock[] {
  const lines = tokenLines(text);
  let at = 0;
  const directives = (): Directive[] => {
    const out: Directive[] = [];
    for (;;) {
      const line = lines[at++];
      if (line === undefined) throw new Error('Corefile: a block is not closed');
      if (line.length === 1 && line[0] === '}') return out;
      const opens = line.at(-1) === '{';
      const [name, ...args] = opens ? line.slice(0, -1) : line;
      if (name === undefined || name === '{' || name === '}' || args.includes('{') || args.includes('}')) throw new Error(`Corefile: cannot read "${line.join(' ')}"`);
      out.push({ name, args, block: opens ? directives() : [] });
    }
  };
  const blocks: ServerBlock[] = [];
  while (at < lines.length) {
    const line = lines[at++]!;
    if (line.at(-1) !== '{' || line.length < 2) throw new Error(`Corefile: expected "zone:port {", found "${line.join(' ')}"`);
    blocks.push({ keys: line.slice(0, -1), directives: directives() });
  }
  return blocks;
}

/** The host part of a `forward` target: `10.0.0.1:53` → 10.0.0.1, `[fd00::1]:53` → fd00::1, `dns://…` kept. */
export function forwardHost(target: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(target);
  if (bracketed) return bracketed[1]!;
  const hostPort = /^([^:]+)(?::\d+)?$/.exec(target);
  return hostPort ? hostPort[1]! : target;
}
