/**
 * CoreDNS's Corefile, read the way CoreDNS reads it (Caddyfile syntax: server blocks
 * `zone:port { … }`, one directive per line with its arguments, `{ … }` blocks of their own,
 * `#` comments, quoted words, `{$ENV}` substitution, `import` of files, globs and snippets), and
 * translated into lbdns's settings: the kubeadm default and its common additions. Anything else
 * is an error naming the plugin and its line, or a warning when serving without it is safe.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { isIP } from 'node:net';
import { canonicalIp } from '../net/ip.ts';
import { formatHostPort, parseHostPort, parseServerAddress } from '../net/host-port.ts';
import { SettingsError } from './schema.ts';

export interface Directive {
  name: string;
  args: string[];
  block: Directive[];
  /** Where it is written: "Corefile:12" (the file's base name and its line). */
  at: string;
}

export interface ServerBlock {
  keys: string[];
  directives: Directive[];
  at: string;
}

export class CorefileError extends SettingsError {}

interface Token {
  text: string;
  /** A quoted word is never a brace. */
  quoted: boolean;
  at: string;
}

/** Imports may nest (a file importing a snippet importing a file), never without end. */
const MAX_IMPORT_DEPTH = 10;
/** An imported file must not grow the Corefile without bound either. */
const MAX_TOKENS = 200_000;

export interface CorefileSource {
  /** Reads an imported file; default: from disk. */
  readFile?: (path: string) => string;
  /** The files an import pattern names (a `*` or `?` in the last part is a glob); default: from disk. */
  glob?: (pattern: string) => string[];
  /** `{$NAME}` and `{%NAME%}` are replaced from here; default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/** A file and every file it imported, as read: their bytes make the digest a reload compares. */
export interface ParsedCorefile {
  blocks: ServerBlock[];
  files: Array<{ path: string; text: string }>;
  /** Import globs: a file that starts to match one is a new version too. */
  globs: string[];
}

function globFiles(pattern: string): string[] {
  const name = basename(pattern);
  if (!/[*?]/.test(name)) return [pattern];
  const dir = dirname(pattern);
  const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  // Hidden entries are kubelet's (..data, ..2024_…): the ConfigMap's keys are the plain names.
  return names.filter((n) => !n.startsWith('.') && re.test(n)).sort().map((n) => join(dir, n));
}

/** Lines of tokens; a quoted word may span lines and belongs to the line it starts on. */
function tokenize(text: string, file: string, env: NodeJS.ProcessEnv): Token[][] {
  const label = basename(file);
  const lines: Token[][] = [];
  let current: Token[] = [];
  let line = 1;
  let i = 0;
  const substitute = (word: string): string =>
    word.replace(/\{\$([A-Za-z_][A-Za-z0-9_]*)\}|\{%([A-Za-z_][A-Za-z0-9_]*)%\}/g, (_m, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? '');
  const endLine = (): void => {
    if (current.length > 0) lines.push(current);
    current = [];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      endLine();
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"') {
      const startLine = line;
      let word = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new CorefileError(`${label}:${startLine}: a quoted word is not closed`);
        const q = text[i]!;
        if (q === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
          word += text[i + 1];
          i += 2;
        } else if (q === '"') {
          i++;
          break;
        } else {
          if (q === '\n') line++;
          word += q;
          i++;
        }
      }
      current.push({ text: substitute(word), quoted: true, at: `${label}:${startLine}` });
    } else {
      let word = '';
      // A "#" inside a word is part of it: only one that starts a word starts a comment.
      while (i < text.length && !/\s/.test(text[i]!)) word += text[i++];
      // "name{" is a name and a brace.
      const open = word.length > 1 && word.endsWith('{');
      const body = substitute(open ? word.slice(0, -1) : word);
      if (body !== '' || !open) current.push({ text: body, quoted: false, at: `${label}:${line}` });
      if (open) current.push({ text: '{', quoted: false, at: `${label}:${line}` });
    }
  }
  endLine();
  return lines.map((tokens) => tokens.filter((t) => t.quoted || t.text !== '')).filter((tokens) => tokens.length > 0);
}

const isBrace = (token: Token | undefined, brace: '{' | '}'): boolean => token !== undefined && !token.quoted && token.text === brace;

/**
 * Parses a Corefile. `path` names it in messages and anchors relative imports; imported files
 * are read through `source` (from disk by default).
 */
export function parseCorefile(text: string, path = 'Corefile', source: CorefileSource = {}): ServerBlock[] {
  return readCorefile(text, path, source).blocks;
}

export function readCorefile(text: string, path = 'Corefile', source: CorefileSource = {}): ParsedCorefile {
  const env = source.env ?? process.env;
  const readFile = source.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const glob = source.glob ?? globFiles;
  const files = [{ path, text }];
  const globs: string[] = [];
  const snippets = new Map<string, Token[][]>();
  let tokenCount = 0;

  // Imports are expanded at the token level, as Caddy does: a snippet or file's lines stand in
  // for the import line, wherever it is.
  const expand = (lines: Token[][], file: string, depth: number): Token[][] => {
    const out: Token[][] = [];
    for (let n = 0; n < lines.length; n++) {
      const tokens = lines[n]!;
      tokenCount += tokens.length;
      if (tokenCount > MAX_TOKENS) throw new CorefileError(`${tokens[0]!.at}: the Corefile and its imports exceed ${MAX_TOKENS} words`);
      if (tokens[0]!.text !== 'import' || tokens[0]!.quoted) {
        out.push(tokens);
        continue;
      }
      const at = tokens[0]!.at;
      if (tokens.length !== 2) throw new CorefileError(`${at}: import takes one file, glob or snippet name`);
      if (depth >= MAX_IMPORT_DEPTH) throw new CorefileError(`${at}: imports nest deeper than ${MAX_IMPORT_DEPTH}`);
      const target = tokens[1]!.text;
      const snippet = snippets.get(target);
      if (snippet) {
        out.push(...expand(snippet, file, depth + 1));
        continue;
      }
      const pattern = isAbsolute(target) ? target : join(dirname(file), target);
      if (/[*?]/.test(basename(pattern))) globs.push(pattern);
      const matches = /[*?]/.test(basename(pattern)) ? glob(pattern) : [pattern];
      for (const match of matches) {
        let imported: string;
        try {
          imported = readFile(match);
        } catch (error) {
          throw new CorefileError(`${at}: import ${target}: cannot read ${match}: ${(error as Error).message}`);
        }
        files.push({ path: match, text: imported });
        out.push(...expand(takeSnippets(tokenize(imported, match, env), snippets), match, depth + 1));
      }
    }
    return out;
  };

  const lines = expand(takeSnippets(tokenize(text, path, env), snippets), path, 0);
  let at = 0;
  const directives = (opener: Token): Directive[] => {
    const out: Directive[] = [];
    for (;;) {
      const line = lines[at++];
      if (line === undefined) throw new CorefileError(`${opener.at}: the block opened here is not closed`);
      if (line.length === 1 && isBrace(line[0], '}')) return out;
      const opens = isBrace(line.at(-1), '{');
      const words = opens ? line.slice(0, -1) : line;
      const [name, ...args] = words;
      if (name === undefined || isBrace(name, '{') || isBrace(name, '}') || args.some((a) => isBrace(a, '{') || isBrace(a, '}'))) {
        throw new CorefileError(`${line[0]!.at}: cannot read "${line.map((t) => t.text).join(' ')}"`);
      }
      out.push({ name: name.text, args: args.map((a) => a.text), block: opens ? directives(line.at(-1)!) : [], at: name.at });
    }
  };
  const blocks: ServerBlock[] = [];
  while (at < lines.length) {
    const line = lines[at++]!;
    if (!isBrace(line.at(-1), '{') || line.length < 2) throw new CorefileError(`${line[0]!.at}: expected "zone:port {", found "${line.map((t) => t.text).join(' ')}"`);
    const keys = line
      .slice(0, -1)
      .flatMap((t) => t.text.split(','))
      .filter((k) => k !== '');
    blocks.push({ keys, directives: directives(line.at(-1)!), at: line[0]!.at });
  }
  return { blocks, files, globs };
}

/**
 * Moves the top-level snippet definitions, `(name) { … }`, into `snippets` (so an import finds
 * one defined below it, as Caddy's two passes do) and returns the other lines.
 */
function takeSnippets(lines: Token[][], snippets: Map<string, Token[][]>): Token[][] {
  const rest: Token[][] = [];
  let level = 0;
  let snippet: Token[][] | null = null;
  for (const line of lines) {
    const before = level;
    for (const t of line) level += isBrace(t, '{') ? 1 : isBrace(t, '}') ? -1 : 0;
    if (before === 0 && /^\(.+\)$/.test(line[0]!.text) && line.length === 2 && isBrace(line[1], '{')) {
      snippet = [];
      snippets.set(line[0]!.text.slice(1, -1), snippet);
    } else if (snippet && level === 0) {
      snippet = null;
    } else if (snippet) {
      snippet.push(line);
    } else {
      rest.push(line);
    }
  }
  if (snippet) throw new CorefileError(`${lines.at(-1)![0]!.at}: a snippet is not closed`);
  return rest;
}

/** The host part of a `forward` target: `10.0.0.1:53` → 10.0.0.1, `[fd00::1]:53` → fd00::1, `dns://…` kept. */
export function forwardHost(target: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(target);
  if (bracketed) return bracketed[1]!;
  const hostPort = /^([^:]+)(?::\d+)?$/.exec(target);
  return hostPort ? hostPort[1]! : target;
}

/**
 * CoreDNS's command line as the coredns Deployment passes it (`-conf FILE`): rewritten to lbdns's
 * flags, so that changing only the Deployment's image serves the same Corefile.
 */
export function coreDnsArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-conf' || arg === '--conf') out.push('--corefile');
    else if (arg.startsWith('-conf=') || arg.startsWith('--conf=')) out.push(`--corefile=${arg.slice(arg.indexOf('=') + 1)}`);
    else out.push(arg);
  }
  return out;
}

// ——— Translation into lbdns's settings ———

/** What a Corefile says, in lbdns's settings keys (validated by the schema once the settings file and flags are laid over it). */
export interface Translation {
  settings: Record<string, unknown>;
  /** "Corefile:7: …": served differently from CoreDNS, or an option with no lbdns equivalent. */
  warnings: string[];
  /** "Corefile:3: …": plugins lbdns does the work of natively (errors, reload, loop, loadbalance). */
  notes: string[];
}

const REVERSE = /(^|\.)(in-addr|ip6)\.arpa$/;

function zoneOf(text: string): string {
  const zone = text.toLowerCase().replace(/\.$/, '');
  return zone === '' ? '.' : zone;
}

function within(name: string, zone: string): boolean {
  return zone === '.' || name === zone || name.endsWith(`.${zone}`);
}

/** A Go duration ("5s", "1m30s", "500ms") or a bare number of seconds, in seconds; null when neither. */
export function durationSeconds(text: string): number | null {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return null;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const [, value, , u] of text.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(value) * unit[u!]!;
  return total;
}

/** Plugins lbdns does the work of itself: serving without them is what the Corefile asks for. */
const NATIVE: Record<string, string> = {
  errors: 'lbdns logs failures itself',
  reload: 'lbdns watches the Corefile and the files it imports, and applies a change as a settings reload',
  loop: 'not needed: identical queries in flight share one upstream query, so a forwarding loop cannot multiply them',
  loadbalance: 'lbdns orders every answer itself (balance.policy, default shuffle)',
  any: 'lbdns answers ANY with one HINFO record (RFC 8482) already',
  cancel: 'upstream queries end after forward.timeoutMs',
};

/** Plugins whose absence changes nothing a client relies on. */
const IGNORED: Record<string, string> = {
  debug: 'ignored (no panic recovery switch in lbdns)',
  pprof: 'not served',
  minimal: 'ignored: answers keep their authority and additional records',
  nsid: 'ignored: no NSID option is sent',
  chaos: 'ignored: CH-class version queries are not answered',
  whoami: 'not served',
  local: 'ignored: localhost names are forwarded as any other name',
};

class Translator {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  readonly notes: string[] = [];
  private readonly baseDir: string;
  private port: { port: number; at: string } | null = null;
  private bind: { hosts: string[]; at: string } | null = null;
  private kubernetes: { clusterZones: string[]; reverseZones: string[]; at: string } | null = null;
  private pods = 'disabled';
  private autopathAt: string | null = null;
  private rootForward = false;
  private rootCache: Directive | null = null;
  /** Stub blocks' caches: the same as the root block's (kube-dns's migration writes "cache 30" in each) is no news. */
  private readonly stubCaches: Directive[] = [];
  private hostsAt: string | null = null;
  private readonly disabledCache: Array<{ zones: string[]; at: string }> = [];
  private readonly ops: { prometheus: string[]; health: string[]; ready: string[] } = { prometheus: [], health: [], ready: [] };
  private readonly stubDomains: Record<string, string[]> = {};
  readonly s: Record<string, any> = {};

  constructor(baseDir: string) {
    this.baseDir = baseDir;
  }

  private error(at: string, message: string): void {
    this.errors.push(`${at}: ${message}`);
  }

  private warn(at: string, message: string): void {
    this.warnings.push(`${at}: ${message}`);
  }

  private section(key: string): Record<string, any> {
    return (this.s[key] ??= {});
  }

  private int(d: { at: string; name: string }, text: string | undefined, min: number, max: number): number | null {
    if (text === undefined || !/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      this.error(d.at, `${d.name}: expected a whole number from ${min} to ${max}, found "${text ?? ''}"`);
      return null;
    }
    return Number(text);
  }

  private duration(d: { at: string; name: string }, text: string | undefined): number | null {
    const seconds = text === undefined ? null : durationSeconds(text);
    if (seconds === null) this.error(d.at, `${d.name}: expected a duration such as 5s or 1m, found "${text ?? ''}"`);
    return seconds;
  }

  /** An HTTP listen address as CoreDNS writes it (":8080", "localhost:9153", "[::]:9153"). */
  private httpAddress(d: Directive, text: string): string | null {
    const parsed = parseHostPort(text.startsWith(':') ? `0.0.0.0${text}` : text);
    const host = parsed && (parsed.host === 'localhost' ? '127.0.0.1' : canonicalIp(parsed.host));
    if (!parsed || !host || parsed.port < 1) {
      this.error(d.at, `${d.name}: expected ADDRESS:PORT or :PORT, found "${text}"`);
      return null;
    }
    return formatHostPort({ host, port: parsed.port });
  }

  block(block: ServerBlock): void {
    const zones: string[] = [];
    for (const key of block.keys) {
      const scheme = /^([a-z0-9+]+):\/\//i.exec(key);
      if (scheme && scheme[1]!.toLowerCase() !== 'dns') {
        this.error(block.at, `server block "${key}": only plain DNS (dns://) is served, not ${scheme[1]}://`);
        continue;
      }
      const rest = scheme ? key.slice(scheme[0].length) : key;
      const match = /^([^:]*)(?::(\d{1,5}))?$/.exec(rest);
      if (!match || match[1]!.includes('/')) {
        this.error(block.at, `server block "${key}": expected ZONE[:PORT]`);
        continue;
      }
      const port = match[2] === undefined ? 53 : Number(match[2]);
      if (port < 1 || port > 65535) {
        this.error(block.at, `server block "${key}": port ${port} is out of range`);
        continue;
      }
      if (this.port === null) this.port = { port, at: block.at };
      else if (this.port.port !== port) this.error(block.at, `server block "${key}": port ${port} differs from ${this.port.port} (${this.port.at}); lbdns serves every zone on the same ports`);
      zones.push(zoneOf(match[1]!));
    }
    const root = zones.includes('.');
    for (const d of block.directives) {
      switch (d.name) {
        case 'kubernetes':
          this.kubernetesPlugin(d, zones);
          break;
        case 'forward':
          this.forward(d, zones, root);
          break;
        case 'cache':
          this.cache(d, root);
          break;
        case 'hosts':
          this.hosts(d);
          break;
        case 'health':
          this.health(d);
          break;
        case 'ready':
        case 'prometheus': {
          if (d.args.length > 1 || d.block.length > 0) this.error(d.at, `${d.name}: takes one address`);
          const address = this.httpAddress(d, d.args[0] ?? (d.name === 'ready' ? ':8181' : 'localhost:9153'));
          if (address) this.ops[d.name].push(address);
          break;
        }
        case 'bind':
          this.bindPlugin(d);
          break;
        case 'log':
          this.s.queryLogSampleRate = 1;
          if (d.args.length > 0 || d.block.length > 0) this.warn(d.at, 'log: every query is logged (queryLogSampleRate: 1), whatever names, format or classes are given');
          break;
        case 'autopath':
          if (d.args[0] !== '@kubernetes') this.error(d.at, `autopath: only "autopath @kubernetes" is supported, found "${d.args.join(' ')}"`);
          else {
            this.s.autopath = true;
            this.autopathAt = d.at;
          }
          break;
        case 'bufsize': {
          const size = this.int(d, d.args[0], 512, 4096);
          if (size !== null) this.s.maxUdpSize = size;
          break;
        }
        default:
          if (d.name in NATIVE) this.notes.push(`${d.at}: ${d.name}: ${NATIVE[d.name]}`);
          else if (d.name in IGNORED) this.warn(d.at, `${d.name}: ${IGNORED[d.name]}`);
          else this.error(d.at, `plugin "${d.name}" is not supported`);
          if (d.name === 'loadbalance' && d.args.length > 0 && d.args[0] !== 'round_robin') this.warn(d.at, `loadbalance ${d.args[0]}: not supported; lbdns's balance settings order answers`);
      }
    }
  }

  private kubernetesPlugin(d: Directive, blockZones: string[]): void {
    if (this.kubernetes) return this.error(d.at, `plugin "kubernetes" is used again (first at ${this.kubernetes.at}); lbdns serves one set of cluster zones`);
    const zones = (d.args.length > 0 ? d.args : blockZones).map(zoneOf);
    if (zones.includes('.')) return this.error(d.at, 'kubernetes: serving the root zone is not supported; name the cluster zone (e.g. cluster.local)');
    const clusterZones = zones.filter((z) => !REVERSE.test(z));
    const reverseZones = zones.filter((z) => REVERSE.test(z));
    this.kubernetes = { clusterZones, reverseZones, at: d.at };
    let fallthrough: string[] | null = null;
    this.pods = 'disabled';
    for (const o of d.block) {
      const at = o.at;
      switch (o.name) {
        case 'pods':
          if (o.args.length !== 1 || !['insecure', 'verified', 'disabled'].includes(o.args[0]!)) this.error(at, `kubernetes pods: expected insecure, verified or disabled, found "${o.args.join(' ')}"`);
          else this.pods = o.args[0]!;
          break;
        case 'fallthrough':
          fallthrough = o.args.length > 0 ? o.args.map(zoneOf) : zones;
          break;
        case 'ttl': {
          const ttl = this.int({ at, name: 'kubernetes ttl' }, o.args[0], 0, 3600);
          if (ttl !== null) this.s.ttl = ttl;
          break;
        }
        case 'endpoint_pod_names':
          this.s.endpointPodNames = true;
          break;
        case 'namespaces':
          this.s.namespaces = o.args;
          break;
        case 'labels':
          this.section('kubernetes').labels = o.args.join(' ');
          break;
        case 'namespace_labels':
          this.section('kubernetes').namespaceLabels = o.args.join(' ');
          break;
        case 'ignore':
          if (o.args.length === 1 && o.args[0] === 'empty_service') this.s.ignoreEmptyService = true;
          else this.error(at, `kubernetes ignore: only "ignore empty_service" is supported`);
          break;
        case 'kubeconfig':
          this.s.kubeconfig = isAbsolute(o.args[0] ?? '') ? o.args[0] : join(this.baseDir, o.args[0] ?? '');
          if (o.args.length > 1) this.warn(at, `kubernetes kubeconfig: context "${o.args[1]}" is ignored; the kubeconfig's current context is used`);
          break;
        case 'endpoint':
        case 'tls':
          this.warn(at, `kubernetes ${o.name}: ignored; lbdns reaches the API server through its service account, or the kubeconfig setting`);
          break;
        case 'noendpoints':
          this.warn(at, 'kubernetes noendpoints: ignored; headless Services and endpoint names are answered');
          break;
        case 'startup_timeout':
          this.warn(at, 'kubernetes startup_timeout: ignored; until the first list of every kind, queries get SERVFAIL and /ready says 503');
          break;
        default:
          this.error(at, `kubernetes option "${o.name}" is not supported`);
      }
    }
    const reverseFallthrough = fallthrough !== null && reverseZones.some((z) => fallthrough!.some((f) => within(z, f) || within(f, z)));
    for (const f of fallthrough ?? []) {
      if (clusterZones.some((z) => within(f, z) || within(z, f))) this.warn(d.at, `kubernetes fallthrough ${f}: cluster names lbdns does not know get NXDOMAIN, they are not passed on`);
    }
    this.s.zones = clusterZones;
    this.s.reverse = { zones: reverseZones, fallthrough: reverseFallthrough };
    this.s.pods = this.pods;
  }

  private forward(d: Directive, blockZones: string[], root: boolean): void {
    const [fromText, ...targets] = d.args;
    if (fromText === undefined || targets.length === 0) return this.error(d.at, 'forward: expected "forward FROM TO…"');
    const from = zoneOf(fromText);
    const addresses: string[] = [];
    const files: string[] = [];
    for (const target of targets) {
      const scheme = /^([a-z0-9+]+):\/\//i.exec(target);
      if (scheme && scheme[1]!.toLowerCase() !== 'dns') {
        this.error(d.at, `forward: ${scheme[1]}:// upstreams are not supported, only plain DNS ("${target}")`);
        continue;
      }
      const text = scheme ? target.slice(scheme[0].length) : target;
      if (text.includes('/') && !text.startsWith('[')) {
        files.push(isAbsolute(text) ? text : join(this.baseDir, text));
        continue;
      }
      try {
        addresses.push(formatHostPort(parseServerAddress(text)));
      } catch {
        this.error(d.at, `forward: "${target}" is not an IP address (ADDR or ADDR:PORT) or a resolv.conf file`);
      }
    }
    const domains = from === '.' ? blockZones : [from];
    const isDefault = root && from === '.';
    if (files.length > 0 && (addresses.length > 0 || files.length > 1)) this.error(d.at, 'forward: either one resolv.conf file or addresses, not both');
    else if (files.length > 0 && !isDefault) this.error(d.at, `forward ${fromText}: lbdns forwards a domain to addresses only, not to a resolv.conf file`);
    if (isDefault) {
      this.rootForward = true;
      const forward = this.section('forward');
      forward.upstreams = addresses;
      if (files[0] !== undefined) forward.resolvConf = files[0];
    } else {
      if (root) this.warn(d.at, `forward ${fromText}: names outside ${fromText} and the cluster zones still go to the resolv.conf nameservers`);
      for (const domain of domains) {
        if (domain === '.') continue;
        if (!blockZones.some((z) => within(domain, z))) this.error(d.at, `forward ${fromText}: not inside the server block's zones`);
        this.stubDomains[domain] = addresses;
      }
    }
    for (const o of d.block) {
      const where = { at: o.at, name: `forward ${o.name}` };
      if (!isDefault && ['max_concurrent', 'policy', 'max_fails', 'failover'].includes(o.name)) {
        this.warn(o.at, `forward ${o.name}: ignored here; lbdns applies the root block's forward options to every upstream`);
        continue;
      }
      switch (o.name) {
        case 'max_concurrent': {
          const n = this.int(where, o.args[0], 1, 100_000);
          if (n !== null) this.section('forward').maxConcurrent = n;
          break;
        }
        case 'policy':
          if (!['random', 'round_robin', 'sequential'].includes(o.args[0] ?? '')) this.error(o.at, `forward policy: expected random, round_robin or sequential, found "${o.args.join(' ')}"`);
          else this.section('forward').policy = o.args[0];
          break;
        case 'max_fails': {
          const n = this.int(where, o.args[0], 0, 100);
          if (n === 0) this.warn(o.at, 'forward max_fails 0: lbdns always tries a failing upstream last after forward.maxFails (default 2) failures');
          else if (n !== null) this.section('forward').maxFails = n;
          break;
        }
        case 'failover':
          this.section('forward').failover = true;
          if (o.args.some((r) => !['SERVFAIL', 'REFUSED', 'NOTIMP'].includes(r.toUpperCase()))) this.warn(o.at, 'forward failover: lbdns fails over on SERVFAIL, REFUSED and NOTIMP only');
          break;
        case 'health_check':
          this.warn(o.at, 'forward health_check: ignored; an upstream that fails forward.maxFails queries is tried last for forward.holdDownSeconds');
          break;
        case 'expire':
        case 'force_tcp':
        case 'prefer_udp':
        case 'max_idle_conns':
        case 'next':
          this.warn(o.at, `forward ${o.name}: no lbdns equivalent; ignored`);
          break;
        case 'tls':
        case 'tls_servername':
          this.error(o.at, `forward ${o.name}: DNS over TLS upstreams are not supported`);
          break;
        default:
          this.error(o.at, `forward option "${o.name}" is not supported`);
      }
    }
  }

  private cache(d: Directive, root: boolean): void {
    if (!root) {
      this.stubCaches.push(d);
      return;
    }
    if (this.rootCache) return this.error(d.at, `plugin "cache" is used again (first at ${this.rootCache.at})`);
    this.rootCache = d;
    const cache = this.section('cache');
    let args = d.args;
    if (args[0] !== undefined && /^\d+$/.test(args[0])) {
      const ttl = this.int({ at: d.at, name: 'cache' }, args[0], 0, 2 ** 31);
      if (ttl !== null) {
        cache.maxTtl = ttl;
        cache.negativeMaxTtl = ttl;
      }
      args = args.slice(1);
    }
    if (args.some((z) => zoneOf(z) !== '.')) this.warn(d.at, `cache ${args.join(' ')}: lbdns caches forwarded answers for every name, not only these zones`);
    for (const o of d.block) {
      const where = { at: o.at, name: `cache ${o.name}` };
      switch (o.name) {
        case 'success':
        case 'denial': {
          const size = this.int(where, o.args[0], 0, 10_000_000);
          if (size !== null) cache[o.name === 'success' ? 'positiveSize' : 'negativeSize'] = size;
          if (o.args[1] !== undefined) {
            const ttl = this.int(where, o.args[1], 0, 2 ** 31);
            if (ttl !== null) cache[o.name === 'success' ? 'maxTtl' : 'negativeMaxTtl'] = ttl;
          }
          if (o.args[2] !== undefined) this.warn(o.at, `cache ${o.name}: MINTTL ${o.args[2]} has no lbdns equivalent; ignored`);
          break;
        }
        case 'prefetch': {
          const hits = this.int(where, o.args[0], 1, 1_000_000);
          const prefetch: Record<string, number> = {};
          if (hits !== null) prefetch.hits = hits;
          const percentText = o.args.find((a) => a.endsWith('%'));
          if (percentText !== undefined) {
            const percent = this.int(where, percentText.slice(0, -1), 1, 90);
            if (percent !== null) prefetch.percent = percent;
          }
          const window = o.args.slice(1).find((a) => !a.endsWith('%'));
          if (window !== undefined) this.warn(o.at, `cache prefetch: the ${window} window is ignored; hits are counted over the entry's lifetime`);
          cache.prefetch = prefetch;
          break;
        }
        case 'serve_stale': {
          const seconds = o.args[0] === undefined ? 3600 : this.duration(where, o.args[0]);
          if (seconds !== null) cache.serveStale = Math.round(seconds);
          if (o.args[1] === 'verify') this.warn(o.at, 'cache serve_stale verify: lbdns serves stale answers only when every upstream fails, and refreshes in the background');
          break;
        }
        case 'disable':
          if (!['success', 'denial'].includes(o.args[0] ?? '')) this.error(o.at, 'cache disable: expected success or denial');
          else this.disabledCache.push({ zones: o.args.slice(1).map(zoneOf), at: o.at });
          break;
        case 'keepttl':
        case 'servfail':
          this.warn(o.at, `cache ${o.name}: no lbdns equivalent; ignored`);
          break;
        default:
          this.error(o.at, `cache option "${o.name}" is not supported`);
      }
    }
  }

  private hosts(d: Directive): void {
    if (this.hostsAt) return this.error(d.at, `plugin "hosts" is used again (first at ${this.hostsAt})`);
    this.hostsAt = d.at;
    const [file = '/etc/hosts', ...zones] = d.args;
    const hosts: Record<string, unknown> = { files: [isAbsolute(file) ? file : join(this.baseDir, file)] };
    const entries: string[] = [];
    if (zones.some((z) => zoneOf(z) !== '.')) this.warn(d.at, `hosts: entries answer for any name, not only in ${zones.join(' ')}`);
    let fallthrough = false;
    for (const o of d.block) {
      if (isIP(o.name)) {
        if (o.args.length === 0) this.error(o.at, `hosts: "${o.name}" names no host`);
        entries.push([o.name, ...o.args].join(' '));
        continue;
      }
      switch (o.name) {
        case 'ttl': {
          const ttl = this.int({ at: o.at, name: 'hosts ttl' }, o.args[0], 0, 3600);
          if (ttl !== null) hosts.ttl = ttl;
          break;
        }
        case 'no_reverse':
          hosts.reverse = false;
          break;
        case 'reload':
          this.notes.push(`${o.at}: hosts reload: the hosts file is read again with every settings reload (a change to the Corefile's folder, or SIGHUP)`);
          break;
        case 'fallthrough':
          fallthrough = true;
          break;
        default:
          this.error(o.at, `hosts option "${o.name}" is not supported`);
      }
    }
    if (!fallthrough) this.warn(d.at, 'hosts without fallthrough: names the hosts do not list still go on to the cluster zones and upstream');
    hosts.entries = entries;
    this.s.hosts = hosts;
  }

  private health(d: Directive): void {
    const address = this.httpAddress(d, d.args[0] ?? ':8080');
    if (address) this.ops.health.push(address);
    for (const o of d.block) {
      if (o.name === 'lameduck') {
        const seconds = this.duration({ at: o.at, name: 'health lameduck' }, o.args[0]);
        if (seconds !== null) this.section('shutdown').drainSeconds = seconds;
      } else this.error(o.at, `health option "${o.name}" is not supported`);
    }
  }

  private bindPlugin(d: Directive): void {
    const hosts: string[] = [];
    for (const arg of d.args) {
      const ip = canonicalIp(arg);
      if (ip) hosts.push(ip);
      else this.error(d.at, `bind: "${arg}" is not an IP address (interface names are not supported)`);
    }
    if (d.block.length > 0) this.error(d.at, 'bind: an "except" block is not supported');
    if (this.bind && JSON.stringify(this.bind.hosts) !== JSON.stringify(hosts)) this.error(d.at, `bind: differs from ${this.bind.at}; lbdns listens on one set of addresses for every zone`);
    this.bind = { hosts, at: d.at };
  }

  finish(): Translation {
    if (!this.kubernetes) this.errors.push('Corefile: no kubernetes plugin; lbdns serves a cluster zone, name it with "kubernetes cluster.local in-addr.arpa ip6.arpa"');
    const port = this.port?.port ?? 53;
    this.s.listen = (this.bind?.hosts ?? ['0.0.0.0', '::']).map((host) => formatHostPort({ host, port }));
    const ops = [...new Set([...this.ops.prometheus, ...this.ops.health, ...this.ops.ready])];
    if (ops.length > 0) this.section('ops').listen = ops[0];
    if (ops.length > 1) this.section('ops').alsoListen = ops.slice(1);
    if (Object.keys(this.stubDomains).length > 0) this.section('forward').stubDomains = this.stubDomains;
    if (!this.rootForward && Object.keys(this.stubDomains).length === 0) {
      // As CoreDNS without forward: names outside the served zones are refused.
      this.section('forward').allowedClients = [];
      this.warnings.push('Corefile: no "forward ." in a "." block: names outside the cluster zones are refused');
    }
    if (this.autopathAt && this.pods !== 'verified') this.error(this.autopathAt, 'autopath: needs "pods verified" in the kubernetes block, to know the asking pod\'s namespace');
    // "disable … cluster.local" changes nothing in lbdns (cluster answers are never forwarded): not a difference.
    const sameness = (d: Directive | null): string => JSON.stringify(d && [d.args, d.block.filter((o) => o.name !== 'disable').map((o) => [o.name, o.args])]);
    for (const stub of this.stubCaches) {
      if (sameness(stub) !== sameness(this.rootCache)) this.warn(stub.at, 'cache: lbdns has one cache for every forwarded name; the root block\'s cache settings apply here');
    }
    const served = [...(this.kubernetes?.clusterZones ?? []), ...(this.kubernetes?.reverseZones ?? [])];
    for (const disabled of this.disabledCache) {
      if (disabled.zones.length === 0 || !disabled.zones.every((z) => served.some((s) => within(z, s)))) {
        this.warn(disabled.at, 'cache disable: lbdns caches forwarded answers for every name; only the cluster zones are never cached');
      }
    }
    if (this.errors.length > 0) throw new CorefileError(this.errors.join('; '));
    return { settings: this.s, warnings: this.warnings, notes: this.notes };
  }
}

/** lbdns settings from Corefile server blocks; throws a CorefileError naming every plugin it cannot serve, with its line. */
export function translateCorefile(blocks: ServerBlock[], baseDir = '/etc/coredns'): Translation {
  const t = new Translator(baseDir);
  for (const block of blocks) t.block(block);
  return t.finish();
}
