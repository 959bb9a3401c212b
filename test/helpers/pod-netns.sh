#!/usr/bin/env bash
# Runs inside `unshare --mount --net --fork`: a network namespace that looks like a pod's
# (veth eth0 with a /24 address and a default route, as flannel, kubenet and bridge CNIs set it
# up; resolv.conf with the cluster search path and ndots:5), lbdns serving on the pod's address,
# and the resolvers applications use asking it LOOKUPS times for each name.
# Environment: NODE (node binary), LBDNS (bin/lbdns.js), OBJECTS, WORK (a scratch directory),
# LOOKUPS, NAMES (space-separated). Writes $WORK/results.json.
set -euo pipefail

ip link set lo up
ip link add eth0 type veth peer name peer0
ip addr add 10.97.1.5/24 dev eth0
ip link set eth0 up
ip link set peer0 up
ip route add default via 10.97.1.254 dev eth0

cat > "$WORK/resolv.conf" <<CONF
search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.97.1.5
options ndots:5
CONF
mount --bind "$WORK/resolv.conf" /etc/resolv.conf
# No name of the test may come from /etc/hosts.
printf '127.0.0.1 localhost\n' > "$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts

"$NODE" "$LBDNS" --objects "$OBJECTS" --upstream 127.0.0.1:9 --listen 10.97.1.5:53 --ops-listen 127.0.0.1:18080 --log-level warn 2> "$WORK/lbdns.log" &
LBDNS_PID=$!
trap 'kill $LBDNS_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if getent ahostsv4 web > /dev/null 2>&1; then break; fi
  sleep 0.1
done

{
  echo '{'
  first=1
  for name in $NAMES; do
    [ $first = 1 ] || echo ','
    first=0
    echo "\"$name\": {\"getent\": ["
    for i in $(seq 1 "$LOOKUPS"); do
      [ "$i" = 1 ] || printf ','
      printf '"%s"' "$(getent ahostsv4 "$name" | head -n 1 | cut -d' ' -f1)"
    done
    echo '], "node": '
    "$NODE" -e '
      const dns = require("node:dns");
      const [name, count] = [process.argv[1], Number(process.argv[2])];
      (async () => {
        const firsts = [];
        for (let i = 0; i < count; i++) firsts.push((await dns.promises.lookup(name, { family: 4 })).address);
        process.stdout.write(JSON.stringify(firsts));
      })();
    ' "$name" "$LOOKUPS"
    echo '}'
  done
  echo '}'
} > "$WORK/results.json"
