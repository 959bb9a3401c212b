/**
 * The one settings object. Every key is documented with its default in config/lbdns.yaml;
 * defaults follow the Corefile kubeadm installs for CoreDNS.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import * as z from 'zod';
import { NameError, encodeName } from '../wire/name.ts';
import { parseHostPort, parseServerAddress } from '../net/host-port.ts';
import { parseCidr } from '../net/cidr.ts';
import { canonicalIp } from '../net/ip.ts';
import { issuePath } from '../util/issue-path.ts';
import { hostsLineProblem } from './hosts-file.ts';

const zoneName = z
  .string()
  .transform((value) => value.toLowerCase().replace(/\.$/, ''))
  .superRefine((value, ctx) => {
    if (value === '') return ctx.addIssue({ code: 'custom', message: 'empty: a zone is a DNS name such as cluster.local (the root zone cannot be served)' });
    try {
      encodeName(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof NameError ? error.message : String(error) });
    }
  });

const upstream = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    try {
      parseServerAddress(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

const hostsLine = z.string().superRefine((value, ctx) => {
  const problem = hostsLineProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A listen address: an IP address (no host name: sockets would bind whatever it resolves to) and a port. */
const hostPort = z.string().refine((value) => {
  const parsed = parseHostPort(value);
  return parsed !== null && canonicalIp(parsed.host) !== null;
}, 'expected HOST:PORT with an IP address and a port up to 65535, e.g. 127.0.0.1:5353 or [::1]:53');

/** An address range: an IPv4 or IPv6 address and a prefix length that fits it. */
const cidr = z.string().refine((value) => /^[^/]+\/\d{1,3}$/.test(value) && parseCidr(value) !== null, 'expected a CIDR such as 10.244.0.0/16 or fd00::/8 (an IP address, and a prefix length of at most 32 or 128)');

export const settingsSchema = z
  .object({
    /** Zones served from the cluster view. */
    zones: z.array(zoneName).min(1).default(['cluster.local']),
    /** TTL of every cluster-zone record, in seconds (CoreDNS: ttl 30 in kubeadm's Corefile is for the cache; the kubernetes plugin's default is 5). */
    ttl: z.number().int().min(0).max(3600).default(5),
    pods: z.enum(['insecure', 'verified', 'disabled']).default('insecure'),
    /**
     * Answer a pod's first search-path query (name.<its namespace>.svc.<zone>) for the name that
     * resolves, under a CNAME (CoreDNS's autopath). Needs pods: verified to know the namespace.
     */
    autopath: z.boolean().default(false),
    endpointPodNames: z.boolean().default(false),
    ignoreEmptyService: z.boolean().default(false),
    /** Namespaces whose services are served; empty serves all. */
    namespaces: z.array(z.string().min(1)).default([]),
    reverse: z
      .object({
        zones: z.array(zoneName).default(['in-addr.arpa', 'ip6.arpa']),
        fallthrough: z.boolean().default(true),
      })
      .strict()
      .default({ zones: ['in-addr.arpa', 'ip6.arpa'], fallthrough: true }),
    /**
     * Serving threads, each with its own sockets on the listen ports (SO_REUSEPORT: the kernel
     * spreads queries among them) and the routes the main thread (which holds the cluster view
     * and the forwarder) answered for it.
     * 1: the main thread serves. Unset: the CPUs the process may use (affinity and cgroup quota),
     * resolved by app.ts when it starts: validating settings reads no cgroup file, so a reload or
     * a test parses the same text to the same object on any machine.
     */
    workers: z.number().int().min(1).max(256).optional(),
    /**
     * How UDP datagrams move: `batch` through the native addon (recvmmsg/sendmmsg, many per call),
     * `dgram` through Node's one-per-call sockets, `auto` batch when the addon loads, else dgram.
     * Takes effect on restart.
     */
    io: z.enum(['auto', 'batch', 'dgram']).default('auto'),
    /**
     * With workers: what a worker cannot answer from the routes it holds (a name not asked
     * before, a forwarded name) goes to the main thread, which holds the view and the one
     * forwarder. A worker's requests in flight there are capped (beyond the cap, SERVFAIL at
     * once), and one not answered in time gets SERVFAIL: a flood of new names cannot queue without bound.
     */
    relay: z
      .object({
        maxInFlight: z.number().int().min(1).max(100_000).default(1000),
        timeoutMs: z.number().int().min(100).max(60_000).default(5000),
      })
      .strict()
      .prefault({}),
    /** Where UDP and TCP are both served. */
    listen: z.array(hostPort).min(1).default(['0.0.0.0:53']),
    /**
     * Where the cluster view comes from: `kubernetes` (list + watch of the API) or `file`
     * (`objects`). Unset: `file` when `objects` is given, else `kubernetes`.
     */
    source: z.enum(['kubernetes', 'file']).optional(),
    /** A Kubernetes objects file (List, multi-document YAML or JSON) to serve instead of the API. */
    objects: z.string().min(1).optional(),
    /** A kubeconfig file; unset: the pod's service account in a pod, else $KUBECONFIG or ~/.kube/config. */
    kubeconfig: z.string().min(1).optional(),
    kubernetes: z
      .object({
        /** Label selector for Services, EndpointSlices (and Endpoints, Pods), as CoreDNS's `labels`. */
        labels: z.string().optional(),
        /** Label selector for Namespaces: only matching namespaces are served (CoreDNS's `namespace_labels`). */
        namespaceLabels: z.string().optional(),
        /** A watch that delivers nothing, not even a bookmark, for this long is presumed dead and restarted. */
        watchIdleSeconds: z.number().int().min(5).max(3600).default(90),
        /** Objects per page when listing. */
        pageSize: z.number().int().min(10).max(10_000).default(500),
        /** The longest wait between retries of a failing list or watch (backoff doubles up to it, jittered). */
        retryMaxSeconds: z.number().min(1).max(600).default(30),
      })
      .strict()
      .default({ watchIdleSeconds: 90, pageSize: 500, retryMaxSeconds: 30 }),
    ops: z
      .object({
        /** The HTTP listener for /health, /ready and /metrics (probes and Prometheus: may be 0.0.0.0). */
        listen: hostPort.default('127.0.0.1:8080'),
        /**
         * The HTTP listener for /debug/…, which names pods, nodes and zones: loopback unless an
         * operator exposes it. The same address as `listen`: one listener serves both.
         */
        debugListen: hostPort.default('127.0.0.1:8081'),
        /** More addresses serving what `listen` serves (a Corefile's separate health, ready and prometheus ports). */
        alsoListen: z.array(hostPort).optional(),
      })
      .strict()
      .default({ listen: '127.0.0.1:8080', debugListen: '127.0.0.1:8081' }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Log this share of queries (client, name, type, rcode, duration); 0: none, 1: all. */
    queryLogSampleRate: z.number().min(0).max(1).default(0),
    /** The largest UDP response lbdns sends and advertises in EDNS (1232: the DNS flag day 2020 value). */
    maxUdpSize: z.number().int().min(512).max(65535).default(1232),
    /** The name server identifier a query asking for it (RFC 5001, `dig +nsid`) gets: default the pod name; '' answers none. */
    nsid: z.string().max(128).default(() => process.env.HOSTNAME || hostname()),
    /** DNS cookies (RFC 7873/9018); strict: a UDP query with a client cookie but no good server cookie gets BADCOOKIE. */
    cookies: z.object({ enabled: z.boolean().default(true), strict: z.boolean().default(false) }).strict().default({ enabled: true, strict: false }),
    balance: z
      .object({
        /**
         * What a ClusterIP Service's A/AAAA answer holds: its ClusterIP (as the specification
         * says; needs kube-proxy) or its ready endpoints, balanced (no kube-proxy needed).
         * Per Service: annotation lbdns.io/answer.
         */
        answer: z.enum(['clusterIP', 'endpoints']).default('clusterIP'),
        /** In endpoint mode, a Service with no ready endpoint answers its ClusterIP, or NXDOMAIN. */
        emptyFallback: z.enum(['clusterIP', 'nxdomain']).default('clusterIP'),
        /** How balanced answers are ordered. Per Service: annotation lbdns.io/policy. */
        policy: z.enum(['shuffle', 'weighted', 'zone']).default('shuffle'),
        /** At most this many A/AAAA records per answer, after ordering; 0: no cap. Per Service: lbdns.io/max-answers. */
        maxAnswers: z.number().int().min(0).max(1000).default(0),
        /**
         * Keep the chosen first address first through glibc's RFC 6724 sort (rfc6724), answer only
         * it (single), or send the policy's order as is (none).
         */
        clientSort: z.enum(['rfc6724', 'single', 'none']).default('rfc6724'),
        /** Per Service FQDN: endpoint IP, pod name, hostname or zone → weight (0 removes it from answers). */
        weights: z.record(z.string(), z.record(z.string(), z.number().min(0).max(1_000_000))).default({}),
        /** Client address ranges (CIDR) → their topology zone, for the zone policy. */
        clientZones: z.record(cidr, z.string().min(1)).default({}),
        /** The zone of every client without a clientZones match; in node-local mode default: the Node object's zone, else env LBDNS_NODE_ZONE. */
        nodeZone: z.string().min(1).optional(),
        /**
         * A Service's spec.trafficDistribution (when it has no lbdns.io/policy): limit answers to the
         * client's node/zone while EndpointSlice hints name it, as kube-proxy does (limit), or only
         * put them first (order).
         */
        trafficDistribution: z.enum(['limit', 'order']).default('limit'),
        zone: z
          .object({
            /** Drop other zones' endpoints while a same-zone endpoint is ready. */
            strict: z.boolean().default(false),
          })
          .strict()
          .default({ strict: false }),
        /**
         * An endpoint that becomes ready while lbdns runs gets its weight ramped from 10% to full
         * over this many seconds (0: off). Per Service: annotation lbdns.io/slow-start-seconds.
         */
        slowStartSeconds: z.number().int().min(0).max(86_400).default(0),
      })
      .strict()
      .default({ answer: 'clusterIP', emptyFallback: 'clusterIP', policy: 'shuffle', maxAnswers: 0, clientSort: 'rfc6724', weights: {}, clientZones: {}, trafficDistribution: 'limit', zone: { strict: false }, slowStartSeconds: 0 }),
    forward: z
      .object({
        /** Upstream servers (ADDR or ADDR:PORT, IPv4 or IPv6); empty: the nameservers of resolvConf. */
        upstreams: z.array(upstream).default([]),
        resolvConf: z.string().default('/etc/resolv.conf'),
        /** How an upstream is chosen, as CoreDNS's forward: random, round_robin or sequential. */
        policy: z.enum(['random', 'round_robin', 'sequential']).default('random'),
        /** Milliseconds to wait for one upstream before trying the next. */
        timeoutMs: z.number().int().min(50).max(30_000).default(2000),
        /** Upstream queries clients may have in flight at most; beyond it, REFUSED (as CoreDNS's max_concurrent). */
        maxConcurrent: z.number().int().min(1).max(100_000).default(1000),
        /**
         * Upstream queries one client prefix may have in flight (joining one already in flight is
         * free); beyond it, REFUSED for that client only. Background refreshes have as many of their own.
         */
        maxConcurrentPerClient: z.number().int().min(1).max(100_000).default(100),
        /** The client prefixes maxConcurrentPerClient counts per: 32 and 128 give every pod its own. */
        ipv4PrefixLength: z.number().int().min(8).max(32).default(32),
        ipv6PrefixLength: z.number().int().min(16).max(128).default(128),
        /** An upstream's SERVFAIL, NOTIMP or REFUSED sends the query on to the next upstream once (CoreDNS's failover). */
        failover: z.boolean().default(true),
        /** Consecutive failures after which an upstream is tried last for holdDownSeconds. */
        maxFails: z.number().int().min(1).max(100).default(2),
        holdDownSeconds: z.number().min(0).max(3600).default(10),
        /** Per-domain upstreams (kube-dns's stubDomains); the longest matching suffix wins. */
        stubDomains: z.record(z.string().min(1), z.array(upstream).min(1)).default({}),
        /** Clients allowed recursion (names outside the served zones) and CH TXT explanations; others get REFUSED. */
        allowedClients: z
          .array(cidr)
          .default(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10']),
      })
      .strict()
      .prefault({}),
    cache: z
      .object({
        /** Longest time an upstream answer is cached, whatever its TTL. */
        maxTtl: z.number().int().min(0).default(3600),
        /** Longest time a negative answer (NXDOMAIN, NODATA) is cached, whatever its SOA says. */
        negativeMaxTtl: z.number().int().min(0).default(1800),
        positiveSize: z.number().int().min(0).default(10_000),
        negativeSize: z.number().int().min(0).default(10_000),
        /** Seconds past expiry an answer may be served when every upstream fails (0: never). */
        serveStale: z.number().int().min(0).default(3600),
        prefetch: z
          .object({
            /** Hits after which an entry is refreshed before it expires (0: never). */
            hits: z.number().int().min(0).default(10),
            /** Refresh when this share of the entry's TTL is left. */
            percent: z.number().min(1).max(90).default(10),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    rateLimit: z
      .object({
        /** Identical UDP responses per second to one client prefix; 0: no limit. */
        responsesPerSecond: z.number().min(0).max(1_000_000).default(0),
        /** Limited responses: every slip-th is sent truncated (TC) so real clients retry over TCP; 0: drop all. */
        slip: z.number().int().min(0).max(10).default(2),
        /**
         * Clients that share a budget: by default each address alone. BIND's /24 and /56 suit the
         * internet; in a pod network a node's pods share one /24 (IPv6: one /64), so one pod's
         * flood would starve its neighbours, and every pod has an address of its own.
         */
        ipv4PrefixLength: z.number().int().min(8).max(32).default(32),
        ipv6PrefixLength: z.number().int().min(16).max(128).default(128),
        /** Limit answers for the cluster zones too (off: only forwarded names are limited). */
        clusterZones: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    tcp: z
      .object({
        /** A connection that completes no message for this long is closed (slow or idle clients). */
        idleTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
        /** At this many, a connection from a prefix quieter than the busiest closes the busiest's longest quiet one. */
        maxConnections: z.number().int().min(1).max(100_000).default(1000),
        /** Per client prefix (below): a node's pods share one budget. */
        maxConnectionsPerClient: z.number().int().min(1).max(10_000).default(64),
        ipv4PrefixLength: z.number().int().min(8).max(32).default(24),
        ipv6PrefixLength: z.number().int().min(16).max(128).default(56),
      })
      .strict()
      .prefault({}),
    shutdown: z
      .object({
        /**
         * On SIGTERM, /ready turns 503 at once and DNS is still answered for this many seconds
         * (load balancers and kube-proxy take time to stop sending), then lbdns exits (CoreDNS's lameduck).
         */
        drainSeconds: z.number().min(0).max(300).default(5),
      })
      .strict()
      .prefault({}),
    /**
     * Node-local mode (a DaemonSet with host networking, as NodeLocal DNSCache): the addresses
     * kubelet's clusterDNS points at, put on an interface by lbdns at start and removed when it
     * stops; the node's zone from its Node object. Absent: not node-local. Takes effect on restart.
     */
    nodeLocal: z
      .object({
        /** Served and set up on `interface`: a link-local address, optionally also the kube-dns ClusterIP. */
        addresses: z.array(z.string().refine((value) => isIP(value) !== 0, 'expected an IP address')).min(1).default(['169.254.20.10']),
        /** A dummy link of this name is created; where the kernel has no dummy links, the addresses go on lo. */
        interface: z.string().regex(/^[a-zA-Z0-9_.-]{1,15}$/, 'expected a network interface name (at most 15 letters, digits, _ . -)').default('nodelocaldns'),
        /** false: the addresses are already in place (set up by someone else) and are left alone. */
        setupInterface: z.boolean().default(true),
        /**
         * Remove what setupInterface added when lbdns stops (node-cache's teardown). false keeps it
         * through restarts: pods then get "port unreachable" at once and turn to their next nameserver.
         */
        removeOnExit: z.boolean().default(true),
        /** This node's name, for its Node object's zone; unset: env NODE_NAME (the downward API's spec.nodeName). */
        nodeName: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /**
     * Static answers, as CoreDNS's hosts plugin: A/AAAA (and PTR) for the names listed, before the
     * cluster zones and upstream; other names go on as if there were none.
     */
    hosts: z
      .object({
        /** Lines of a hosts file: "ADDRESS NAME [NAME…]". */
        entries: z.array(hostsLine).default([]),
        /** Hosts files (/etc/hosts form), read at start and with every settings reload; one that cannot be read is logged and skipped. */
        files: z.array(z.string().min(1)).default([]),
        ttl: z.number().int().min(0).max(3600).default(3600),
        /** Answer PTR queries for the listed addresses. */
        reverse: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    /** Prepared answers kept, by (name, type). */
    answerCacheSize: z.number().int().min(0).default(50_000),
  })
  .strict()
  .superRefine((settings, ctx) => {
    if (settings.autopath && settings.pods !== 'verified') {
      ctx.addIssue({ code: 'custom', path: ['autopath'], message: 'needs pods: verified, to know the namespace of the asking pod' });
    }
    // Node-local addresses must be served: an address kubelet hands pods that lbdns does not listen on answers nothing.
    settings.nodeLocal?.addresses.forEach((address, index) => {
      const family = isIP(address);
      const covered = settings.listen.some((text) => {
        const host = parseHostPort(text)?.host;
        return host !== undefined && (host === address || host === (family === 4 ? '0.0.0.0' : '::'));
      });
      if (!covered) ctx.addIssue({ code: 'custom', path: ['nodeLocal', 'addresses', index], message: `${address} is not in listen; add ${family === 4 ? address : `[${address}]`}:53` });
    });
  });

export type Settings = z.output<typeof settingsSchema>;

export class SettingsError extends Error {}

function keyPath(path: PropertyKey[]): string {
  return issuePath(path) || '(settings)';
}

/** Validates raw settings, naming the key of every problem. */
export function parseSettings(raw: unknown, source = 'settings'): Settings {
  const result = settingsSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return `${issue.keys.map((k) => keyPath([...issue.path, k])).join(', ')}: unknown key`;
    // A record key that does not validate (a clientZones CIDR): its own message, not zod's "Invalid key".
    if (issue.code === 'invalid_key') return `${keyPath(issue.path)}: ${issue.issues.map((inner) => inner.message).join('; ')}`;
    return `${keyPath(issue.path)}: ${issue.message}`;
  });
  throw new SettingsError(`${source}: ${problems.join('; ')}`);
}
