#!/usr/bin/env bash
# Switches a cluster's DNS from CoreDNS to lbdns, or back, without a moment in which the kube-dns
# Service has no ready endpoint. README: "Replace CoreDNS" describes every step.
#
#   deploy/switch.sh [--image REF] [--context CTX] [--dry-run]     CoreDNS → lbdns (replacement)
#   deploy/switch.sh --rollback [--context CTX] [--dry-run]        lbdns → CoreDNS
#   deploy/switch.sh --mode stub [--image REF] [--dry-run]         lbdns behind CoreDNS (stub)
#   deploy/switch.sh --mode stub --print-snippet                   the Corefile block, with the lbdns Service's address
#   deploy/switch.sh --mode stub --rollback                        lbdns out, once the Corefile no longer forwards to it
#   deploy/switch.sh --status                                      what kube-dns selects and serves from, changing nothing
#   deploy/switch.sh --render [--mode M] [--image REF]             the manifests that would be applied
#
# --dry-run prints every kubectl command instead of running it (values the cluster would supply
# show as <placeholders>). Every step is checked before the next one starts; a failed check
# stops the switch and says how to undo what was done. kubectl finds the cluster through
# $KUBECONFIG or ~/.kube/config; --context picks one of its contexts.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
namespace=kube-system
# The image name deploy/base/kustomization.yaml gives the lbdns container; --image replaces it.
default_image_name=ghcr.io/lbdns/lbdns
# Labels of lbdns's own pods (its Deployment's selector) and of every cluster DNS pod.
lbdns_selector=app.kubernetes.io/name=lbdns,app.kubernetes.io/component=dns
kube_dns_selector_json='{"k8s-app":"kube-dns"}'
# Where the switch remembers CoreDNS's replica count for the rollback.
replicas_annotation=lbdns.io/coredns-replicas
# A short-lived pod queries DNS from inside the cluster with this image (it has dig).
check_image=registry.k8s.io/e2e-test-images/agnhost:2.39

mode=replacement
action=switch
image=
context=
dry_run=false
timeout=180
domain=cluster.local

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
  cat <<EOF

Options:
  --mode replacement|stub   replacement (default): lbdns serves the cluster behind kube-dns;
                            stub: CoreDNS stays and forwards a sub-zone to lbdns
  --image REF               the lbdns image, with a tag or digest (default: deploy/base's)
  --context CTX             the kubeconfig context to use
  --dry-run                 print the kubectl commands, run none
  --timeout SECONDS         how long each wait may take (default $timeout)
  --domain DOMAIN           the cluster domain the checks query (default $domain)
EOF
}

die() {
  echo "switch.sh: $*" >&2
  exit 1
}

while (($# > 0)); do
  case $1 in
    --mode) mode=${2:?--mode needs a value}; shift ;;
    --image) image=${2:?--image needs a value}; shift ;;
    --context) context=${2:?--context needs a value}; shift ;;
    --timeout) timeout=${2:?--timeout needs a value}; shift ;;
    --domain) domain=${2:?--domain needs a value}; shift ;;
    --dry-run) dry_run=true ;;
    --rollback) action=rollback ;;
    --status) action=status ;;
    --render) action=render ;;
    --print-snippet) action=snippet ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
[[ $mode == replacement || $mode == stub ]] || die "--mode is replacement or stub, not $mode"
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout takes seconds, not $timeout"
[[ $domain =~ ^[A-Za-z0-9.-]+$ ]] || die "--domain is a DNS name, not $domain"
overlay=$here/overlays/$mode

# ---------------------------------------------------------------------------------------------
# Running kubectl

kubectl_args=(kubectl)
[[ -n $context ]] && kubectl_args+=(--context "$context")
kubectl_args+=(-n "$namespace")

# One shell word as a person would type it: quoted only when it needs to be.
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,@+%-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

show() {
  local word line=
  for word in "$@"; do line+="$(quote "$word") "; done
  printf '%s\n' "${line% }"
}

# The plan goes to fd 3: stdout under --dry-run (even from inside $(...)), stderr otherwise.
if $dry_run; then exec 3>&1; else exec 3>&2; fi

# A command that changes or waits on the cluster: printed under --dry-run, else logged and run.
kube() {
  if $dry_run; then
    show "${kubectl_args[@]}" "$@" >&3
  else
    echo "+ $(show "${kubectl_args[@]}" "$@")" >&3
    "${kubectl_args[@]}" "$@"
  fi
}

# A command that reads the cluster: under --dry-run printed, and PLACEHOLDER stands for its output.
read_kube() {
  local placeholder=$1
  shift
  if $dry_run; then
    show "${kubectl_args[@]}" "$@" >&3
    printf '%s\n' "$placeholder"
  else
    "${kubectl_args[@]}" "$@"
  fi
}

step() {
  if $dry_run; then echo "# $*" >&3; else echo "== $*" >&3; fi
}

# ---------------------------------------------------------------------------------------------
# What is applied

# The overlay, or under --image a kustomization over it that sets the image (inside deploy/, as
# kustomize only takes relative paths to other kustomizations). Sets kustomization_dir.
kustomization_dir=
prepare_kustomization() {
  kustomization_dir=$overlay
  [[ -z $image ]] && return
  [[ $image =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || die "--image is an image reference (registry/name:tag), not $image"
  local name tag='' digest='' last=${image##*/}
  if [[ $image == *@* ]]; then
    name=${image%%@*} digest=${image#*@}
  elif [[ $last == *:* ]]; then
    name=${image%:*} tag=${image##*:}
  else
    die "--image needs a tag or a digest (registry/lbdns:TAG), so that every node runs the same build"
  fi
  kustomization_dir=$(mktemp -d "$here/.image-XXXXXX")
  {
    echo "# $overlay with the image $image"
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources: [../overlays/$mode]"
    echo "images:"
    echo "  - name: $default_image_name"
    echo "    newName: $name"
    [[ -n $tag ]] && echo "    newTag: \"$tag\""
    [[ -n $digest ]] && echo "    digest: $digest"
  } >"$kustomization_dir/kustomization.yaml"
  if $dry_run; then sed 's/^/#   /' "$kustomization_dir/kustomization.yaml" >&3; fi
}

# Everything the overlays create, as kubectl names them: what a rollback removes. The kube-dns
# Service is not among them and nothing here ever deletes, patches or applies it.
lbdns_objects() {
  local objects=(horizontalpodautoscaler/lbdns poddisruptionbudget/lbdns deployment/lbdns configmap/lbdns serviceaccount/lbdns clusterrolebinding/lbdns clusterrole/lbdns)
  [[ $mode == stub ]] && objects+=(service/lbdns)
  printf '%s\n' "${objects[@]}"
}

# ---------------------------------------------------------------------------------------------
# Checks

# "name ip" of every lbdns pod that is Ready.
ready_lbdns_pods() {
  read_kube '<lbdns-pod> <pod-ip>' get pods -l "$lbdns_selector" \
    -o 'jsonpath={range .items[*]}{.metadata.name} {.status.podIP} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    while read -r name ip ready; do
      if [[ $ready == True || $dry_run == true ]]; then echo "$name $ip"; fi
    done
}

# Pod names behind kube-dns's ready endpoints, once each (a dual-stack Service has a slice per family).
kube_dns_endpoint_pods() {
  read_kube '<pod>' get endpointslices -l kubernetes.io/service-name=kube-dns \
    -o 'jsonpath={range .items[*].endpoints[*]}{.targetRef.name} {.conditions.ready}{"\n"}{end}' |
    # An unset ready condition means ready (EndpointConditions).
    while read -r name ready; do
      if [[ -n $name && $ready != false ]]; then echo "$name"; fi
    done | sort -u
}

# Prints "lbdns=N other=M": kube-dns's ready endpoints that are lbdns pods, and the rest (CoreDNS).
count_kube_dns_endpoints() {
  local lbdns_pods endpoints lbdns=0 other=0 pod
  lbdns_pods=$(ready_lbdns_pods | cut -d' ' -f1)
  endpoints=$(kube_dns_endpoint_pods)
  for pod in $endpoints; do
    if grep -qxF "$pod" <<<"$lbdns_pods"; then lbdns=$((lbdns + 1)); else other=$((other + 1)); fi
  done
  echo "lbdns=$lbdns other=$other"
}

# Polls until kube-dns's ready endpoints satisfy WANT, an arithmetic test of `lbdns` (ready lbdns
# pods among them) and `other` (the rest: CoreDNS's), e.g. "lbdns >= 2 && other == 0".
wait_for_kube_dns_endpoints() {
  local want=$1 deadline=$((SECONDS + timeout)) counts lbdns other
  while :; do
    counts=$(count_kube_dns_endpoints)
    $dry_run && return 0
    lbdns=${counts#lbdns=} other=${counts##*other=}
    lbdns=${lbdns%% *}
    if ((want)); then
      echo "   kube-dns ready endpoints: $counts" >&3
      return 0
    fi
    ((SECONDS < deadline)) || die "kube-dns ready endpoints are $counts after ${timeout}s; wanted $want"
    sleep 2
  done
}

# Polls until the lbdns Deployment has MIN ready replicas (the autoscaler adds the second one).
wait_for_ready_replicas() {
  local min=$1 deadline=$((SECONDS + timeout)) ready
  while :; do
    ready=$(read_kube "$min" get deployment lbdns -o 'jsonpath={.status.readyReplicas}')
    $dry_run && return 0
    ((${ready:-0} >= min)) && return 0
    ((SECONDS < deadline)) || die "lbdns has ${ready:-0} ready replicas after ${timeout}s; wanted $min"
    sleep 2
  done
}

# Queries NAME at every address from a short-lived pod inside the cluster: each must answer it
# with an address. This is the real path a pod's query takes, kube-proxy and all.
dns_check() {
  local name=$1 script='' address output
  shift
  for address in "$@"; do
    script+="echo '== $address'; dig +time=2 +tries=3 +short @$address $name A; "
  done
  output=$(kube run "lbdns-check-$RANDOM" --rm -i --quiet --restart=Never --image="$check_image" \
    --pod-running-timeout="${timeout}s" --command -- sh -c "$script") || {
    $dry_run || die "the DNS check pod failed: $output"
  }
  $dry_run && return 0
  for address in "$@"; do
    # The lines after "== address" up to the next header hold that server's answer.
    if ! awk -v want="== $address" '$0 == want { on = 1; next } /^== / { on = 0 } on && /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/ { found = 1 } END { exit !found }' <<<"$output"; then
      die "$address did not answer $name with an address; the check pod printed:
$output"
    fi
    echo "   $address answers $name" >&3
  done
}

# The kube-dns Service must select pods by k8s-app=kube-dns alone: that is the label lbdns pods
# share with CoreDNS's. A selector merged by an earlier `kubectl apply` matches no pod at all.
check_kube_dns_selector() {
  local selector
  selector=$(read_kube "$kube_dns_selector_json" get service kube-dns -o 'jsonpath={.spec.selector}') ||
    die "cannot read the kube-dns Service in $namespace"
  [[ $selector == "$kube_dns_selector_json" ]] && return 0
  die "the kube-dns Service selects $selector, not only k8s-app=kube-dns, so it would not select lbdns's pods (nor, if it lists labels no pod has, any pod). Restore kubeadm's selector first:
  ${kubectl_args[*]} patch service kube-dns --type json -p '[{\"op\":\"replace\",\"path\":\"/spec/selector\",\"value\":{\"k8s-app\":\"kube-dns\"}}]'"
}

# ---------------------------------------------------------------------------------------------
# Steps

# What to tell the operator when a step fails, and whether CoreDNS must be brought back.
phase=preflight
coredns_replicas=
on_exit() {
  local status=$?
  [[ -n ${kustomization_dir:-} && $kustomization_dir == "$here"/.image-* ]] && rm -rf "$kustomization_dir"
  if ((status == 0)) || $dry_run; then return; fi
  case $phase in
    preflight) echo "switch.sh: stopped before changing anything." >&2 ;;
    lbdns)
      echo "switch.sh: stopped with CoreDNS untouched; lbdns may be partly installed. Remove it with:" >&2
      echo "  $0 --rollback${context:+ --context $context}${mode:+ --mode $mode}" >&2
      ;;
    coredns-down)
      # CoreDNS was scaled down and the check after it failed: bring it back at once.
      echo "switch.sh: the check after scaling CoreDNS down failed; scaling it back to $coredns_replicas." >&2
      kube scale deployment/coredns --replicas="$coredns_replicas" || true
      echo "switch.sh: then remove lbdns, once you have looked at it, with: $0 --rollback${context:+ --context $context}" >&2
      ;;
  esac
}
trap on_exit EXIT

switch_replacement() {
  step "1. Preflight: kube-dns selects by k8s-app=kube-dns; CoreDNS's replica count; nothing would scale CoreDNS back up"
  check_kube_dns_selector
  local cluster_ip
  cluster_ip=$(read_kube '<kube-dns ClusterIP>' get service kube-dns -o 'jsonpath={.spec.clusterIP}') || die "cannot read kube-dns's ClusterIP"
  coredns_replicas=$(read_kube '<coredns replicas>' get deployment coredns -o 'jsonpath={.spec.replicas}') ||
    die "cannot read the coredns Deployment"
  if [[ $coredns_replicas == 0 ]]; then
    # A switch that ran before: the count it saved is the one to come back to.
    coredns_replicas=$(read_kube 2 get deployment coredns -o "jsonpath={.metadata.annotations.${replicas_annotation//./\\.}}")
    [[ -n $coredns_replicas ]] || die "the coredns Deployment has 0 replicas and no $replicas_annotation annotation: scale it up first"
  fi
  local scalers
  scalers=$(read_kube '' get horizontalpodautoscalers -o 'jsonpath={range .items[?(@.spec.scaleTargetRef.name=="coredns")]}{.metadata.name} {end}')
  [[ -z $scalers ]] || die "the HorizontalPodAutoscaler $scalers scales coredns and would undo scaling it to 0: delete it first"
  scalers=$(read_kube '' get deployment kube-dns-autoscaler --ignore-not-found -o name)
  [[ -z $scalers ]] || die "kube-dns-autoscaler (cluster-proportional-autoscaler) scales coredns and would undo scaling it to 0: scale it to 0 first"

  phase=lbdns
  step "2. Apply lbdns; its pods carry k8s-app=kube-dns, so the kube-dns Service selects them next to CoreDNS's"
  prepare_kustomization
  kube apply -k "$kustomization_dir"

  step "3. Wait until lbdns is rolled out and has the autoscaler's minimum of ready replicas"
  kube rollout status deployment/lbdns --timeout="${timeout}s"
  local min_replicas
  min_replicas=$(read_kube 2 get horizontalpodautoscaler lbdns -o 'jsonpath={.spec.minReplicas}')
  wait_for_ready_replicas "${min_replicas:-1}"

  step "4. Check that kube-dns lists the lbdns pods as ready endpoints"
  wait_for_kube_dns_endpoints "lbdns >= ${min_replicas:-1}"

  step "5. Check that every lbdns pod answers, and the kube-dns ClusterIP too, from a pod"
  local ips
  ips=$(ready_lbdns_pods | cut -d' ' -f2 | tr '\n' ' ')
  # shellcheck disable=SC2086 # one address per word
  dns_check "kubernetes.default.svc.$domain" $ips "$cluster_ip"

  step "6. Scale CoreDNS to 0, keeping its replica count ($coredns_replicas) for a rollback"
  kube annotate deployment/coredns "$replicas_annotation=$coredns_replicas" --overwrite
  phase=coredns-down
  kube scale deployment/coredns --replicas=0
  kube wait --for=delete pod -l 'k8s-app=kube-dns,app.kubernetes.io/name!=lbdns' --timeout="${timeout}s"

  step "7. Check that kube-dns lists lbdns alone, and that its ClusterIP answers"
  wait_for_kube_dns_endpoints "lbdns >= ${min_replicas:-1} && other == 0"
  dns_check "kubernetes.default.svc.$domain" "$cluster_ip"

  phase=finished
  step "lbdns now serves the cluster's DNS. Undo with: $0 --rollback${context:+ --context $context}"
}

rollback_replacement() {
  step "1. Bring CoreDNS back to the replica count the switch saved (2 if none)"
  local replicas cluster_ip
  replicas=$(read_kube '<saved replicas>' get deployment coredns -o "jsonpath={.metadata.annotations.${replicas_annotation//./\\.}}") ||
    die "cannot read the coredns Deployment"
  replicas=${replicas:-2}
  cluster_ip=$(read_kube '<kube-dns ClusterIP>' get service kube-dns -o 'jsonpath={.spec.clusterIP}') || die "cannot read kube-dns's ClusterIP"
  kube scale deployment/coredns --replicas="$replicas"
  kube rollout status deployment/coredns --timeout="${timeout}s"
  wait_for_kube_dns_endpoints "other >= 1"

  step "2. Remove lbdns (never the kube-dns Service) and wait for its pods to go"
  # shellcheck disable=SC2046 # one object per word
  kube delete $(lbdns_objects) --ignore-not-found
  kube wait --for=delete pod -l "$lbdns_selector" --timeout="${timeout}s"

  step "3. Check that the kube-dns ClusterIP answers, from a pod"
  dns_check "kubernetes.default.svc.$domain" "$cluster_ip"
  kube annotate deployment/coredns "$replicas_annotation-"
  step "CoreDNS serves the cluster's DNS again."
}

# The zone the stub block forwards (its server block key, without the port).
stub_zone() {
  sed -n 's/^\([A-Za-z0-9.-]*\):53 {$/\1/p' "$here/overlays/stub/Corefile.snippet" | head -n 1
}

# The snippet's server block, forwarding to ADDRESS instead of the address written in the file.
print_snippet() {
  local address=$1 line
  [[ $address == *:* ]] && address="[$address]"
  echo "# lbdns's Service ClusterIP is ${1}: add this block to the coredns ConfigMap's Corefile."
  while IFS= read -r line; do
    [[ $line == \#* ]] && continue
    if [[ $line =~ ^([[:space:]]*forward[[:space:]]+\.[[:space:]]+)[^[:space:]]+(.*)$ ]]; then
      line="${BASH_REMATCH[1]}$address:53${BASH_REMATCH[2]}"
    fi
    printf '%s\n' "$line"
  done <"$here/overlays/stub/Corefile.snippet"
}

lbdns_service_ip() {
  read_kube '<lbdns ClusterIP>' get service lbdns -o 'jsonpath={.spec.clusterIP}' || die "cannot read the lbdns Service"
}

switch_stub() {
  step "1. Preflight: CoreDNS's Corefile is in the coredns ConfigMap"
  read_kube 'configmap/coredns' get configmap coredns -o name >/dev/null || die "no coredns ConfigMap in $namespace"

  phase=lbdns
  step "2. Apply lbdns and its own Service"
  prepare_kustomization
  kube apply -k "$kustomization_dir"

  step "3. Wait until lbdns is rolled out"
  kube rollout status deployment/lbdns --timeout="${timeout}s"

  step "4. Check that the lbdns Service answers its zone, from a pod"
  local address
  address=$(lbdns_service_ip)
  dns_check "kubernetes.default.svc.$(stub_zone)" "$address"

  phase=finished
  step "5. Add this block to CoreDNS's Corefile (kubectl -n $namespace edit configmap coredns); CoreDNS reloads it:"
  print_snippet "$address"
}

rollback_stub() {
  step "1. Check that CoreDNS no longer forwards to lbdns"
  local address corefile
  address=$(lbdns_service_ip)
  corefile=$(read_kube '' get configmap coredns -o 'jsonpath={.data.Corefile}') || die "cannot read the coredns ConfigMap"
  if [[ -n $address ]] && grep -qF "$address" <<<"$corefile"; then
    die "CoreDNS's Corefile still forwards to lbdns ($address): remove the $(stub_zone) block first (kubectl -n $namespace edit configmap coredns)"
  fi
  step "2. Remove lbdns and its own Service"
  # shellcheck disable=SC2046 # one object per word
  kube delete $(lbdns_objects) --ignore-not-found
  kube wait --for=delete pod -l "$lbdns_selector" --timeout="${timeout}s"
  phase=finished
}

status() {
  local selector cluster_ip pods
  selector=$(read_kube "$kube_dns_selector_json" get service kube-dns -o 'jsonpath={.spec.selector}') || die "cannot read the kube-dns Service"
  cluster_ip=$(read_kube '<kube-dns ClusterIP>' get service kube-dns -o 'jsonpath={.spec.clusterIP}')
  echo "kube-dns: ClusterIP $cluster_ip, selector $selector"
  if [[ $selector == "$kube_dns_selector_json" ]]; then
    echo "kube-dns selector: ok (lbdns pods carry k8s-app=kube-dns)"
  else
    echo "kube-dns selector: WRONG, it does not select lbdns pods by k8s-app=kube-dns alone"
  fi
  pods=$(ready_lbdns_pods)
  echo "lbdns pods ready: $(grep -c . <<<"$pods" || true)${pods:+ ($(tr '\n' ',' <<<"$pods" | sed 's/,$//; s/,/, /g'))}"
  echo "kube-dns ready endpoints: $(count_kube_dns_endpoints)"
  phase=finished
}

case $action in
  switch) "switch_$mode" ;;
  rollback) "rollback_$mode" ;;
  status) status ;;
  render)
    prepare_kustomization
    kubectl kustomize "$kustomization_dir"
    phase=finished
    ;;
  snippet)
    [[ $mode == stub ]] || die "--print-snippet is for --mode stub"
    print_snippet "$(lbdns_service_ip)"
    phase=finished
    ;;
esac
