#!/usr/bin/env bash
# Runs inside `unshare --mount --net --fork`: lbdns serves on one end of a veth pair whose
# outgoing side is shaped to 256 kbit/s (tc tbf), and a client in a second network namespace on the
# other end asks QUERIES questions, paced so that every one reaches lbdns. The replies leave
# faster than the link carries them: the qdisc holds them, lbdns's socket send buffer fills, and
# its sends meet EAGAIN, as on a busy node's NIC.
# Environment: NODE, LBDNS (bin/lbdns.js), OBJECTS, IO (--io), WORK (scratch), QUERIES.
# Writes $WORK/client.json {queries, answered, sndbufErrors: the sends that met a full buffer} and
# $WORK/lbdns.json {requests: UDP queries lbdns read, failed: its replies counted as not sent}.
set -euo pipefail

ip link set lo up
mkdir -p /run/netns
mount -t tmpfs none /run/netns
ip netns add client
ip link add eth0 type veth peer name peer0
ip link set peer0 netns client
ip addr add 10.98.0.1/24 dev eth0
ip link set eth0 up
ip netns exec client ip link set lo up
ip netns exec client ip addr add 10.98.0.2/24 dev peer0
ip netns exec client ip link set peer0 up
# Room in the qdisc for every reply (15 s at 256 kbit/s): the link delays them, it never drops one.
tc qdisc add dev eth0 root tbf rate 256kbit burst 4kb latency 15s

"$NODE" "$LBDNS" --objects "$OBJECTS" --upstream 127.0.0.1:9 --listen 10.98.0.1:53 --ops-listen 127.0.0.1:18080 --log-level warn --workers 1 --io "$IO" 2> "$WORK/lbdns.log" &
LBDNS_PID=$!
trap 'kill $LBDNS_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$NODE" -e "fetch('http://127.0.0.1:18080/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then break; fi
  sleep 0.1
done

answered=$(ip netns exec client python3 - "$QUERIES" <<'PY'
import select, socket, struct, sys, time
queries = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.98.0.2', 0))
name = b''.join(bytes([len(p)]) + p for p in b'web.default.svc.cluster.local'.split(b'.')) + b'\0'
answered = set()
def read(timeout):
    while select.select([s], [], [], timeout)[0]:
        answered.add(struct.unpack('!H', s.recv(4096)[:2])[0])
        timeout = 0
# 10 at a time, 10 ms apart: 1,000 queries/s, whose replies are four times what the link carries.
for start in range(0, queries, 10):
    for i in range(start, min(start + 10, queries)):
        s.sendto(struct.pack('!HHHHHH', i, 0x0100, 1, 0, 0, 0) + name + struct.pack('!HH', 1, 1), ('10.98.0.1', 53))
    read(0.01)
deadline = time.monotonic() + 30
while len(answered) < queries and time.monotonic() < deadline:
    read(0.5)
print(len(answered))
PY
)
# What lbdns read, and what it could not send; the kernel's count of sends that met a full buffer.
"$NODE" -e "fetch('http://127.0.0.1:18080/metrics').then((r) => r.text()).then((t) => {
  const read = (re) => Number(re.exec(t)?.[1] ?? NaN);
  console.log(JSON.stringify({ requests: read(/^lbdns_dns_requests_total\\{[^}]*proto=\"udp\"[^}]*\\} (\\d+)$/m), failed: read(/^lbdns_udp_send_errors_total\\{reason=\"failed\"\\} (\\d+)$/m) }));
})" > "$WORK/lbdns.json"
sndbuf=$(awk '/^Udp: [0-9]/ { print $7 }' /proc/net/snmp)
printf '{"queries": %s, "answered": %s, "sndbufErrors": %s}\n' "$QUERIES" "$answered" "$sndbuf" > "$WORK/client.json"
