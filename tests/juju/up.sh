#!/bin/bash
# Brings up a real Juju controller on a single-node Kubernetes, all built from source, inside a network namespace
# of its own with no route out, and writes $STATE/env for tests/integration. `up.sh [phase...]` runs some phases
# only (deps dqlite build images cluster bootstrap); each is skipped when its inputs did not change.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, containerd, the kubelet)"

phase_deps() {
  local pkgs="etcd-server etcd-client containerd runc containernetworking-plugins iptables iproute2 debootstrap umoci
    build-essential autoconf automake libtool pkg-config libuv1-dev liblz4-dev libsqlite3-dev dpkg-dev git ca-certificates
    conntrack socat ethtool kmod openssl curl python3 jq"
  local missing="" p
  for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"; done
  [ -z "$missing" ] && { log "deps: all installed"; return; }
  log "deps: installing$missing"
  # Services the packages ship (etcd, containerd) must not start: this script runs its own, in the namespace.
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null || { [ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install$missing"; }
  [ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
  # The packaged services are stopped if a systemd started them anyway.
  for s in etcd containerd; do command -v systemctl >/dev/null && systemctl disable --now "$s" >/dev/null 2>&1 || true; done
}

. "$JUJU_DIR/build.sh"
. "$JUJU_DIR/images.sh"
. "$JUJU_DIR/cluster.sh"
. "$JUJU_DIR/bootstrap.sh"

phases=("$@"); [ ${#phases[@]} = 0 ] && phases=(deps dqlite build images cluster bootstrap)
mkdir -p "$CACHE" "$STATE"
# A module of its own, so that the go tool's ./... skips the cluster's state (containerd creates and deletes
# directories under it while `go list ./...` walks the tree).
echo "module tls-authority-juju-state" >"$STATE/go.mod"
total=$(date +%s)
for p in "${phases[@]}"; do
  t=$(date +%s)
  "phase_$p"
  log "phase $p took $(( $(date +%s) - t ))s"
  echo "$p $(( $(date +%s) - t ))s" >>"$STATE/timings"
done
log "up: done in $(( $(date +%s) - total ))s; env file: $STATE/env"
