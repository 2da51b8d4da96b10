# Shared by up.sh and down.sh: paths, names and helpers of the real-Juju controller.
set -euo pipefail
JUJU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$JUJU_DIR/../.." && pwd)
. "$JUJU_DIR/versions.sh"
# Built binaries and images survive a clean clone (CI reuses them on the same machine); the cluster's state does not.
CACHE=${JUJU_CACHE:-/var/cache/tls-authority-juju}
STATE=${JUJU_STATE:-$REPO/build/juju}
NETNS=${JUJU_NETNS:-tlsa-juju}
NODE_IP=10.201.0.1            # the node's address, on a portless bridge inside the namespace
POD_CIDR=10.202.0.0/16
SERVICE_CIDR=10.203.0.0/16
SERVICE_IP=10.203.0.1         # the apiserver's service address
DNS_IP=10.203.0.10
CONTROLLER=${JUJU_CONTROLLER:-tlsa}
BIN=$CACHE/bin
HEAVY=(nice -n 19 ionice -c3)
# The builds below run in modules copied from the proxy, which may need go.sum entries they lack.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

log() { printf '%s [juju] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
inns() { ip netns exec "$NETNS" "$@"; }
# stamp NAME INPUT...: the hash of a build's inputs; built NAME says whether the cache holds a build of these inputs.
stamp() { local n=$1; shift; printf '%s\n' "$@" | sha256sum | cut -c1-16; }
built() { [ -f "$CACHE/stamps/$1" ] && [ "$(cat "$CACHE/stamps/$1")" = "$2" ]; }
mark() { mkdir -p "$CACHE/stamps"; echo "$2" >"$CACHE/stamps/$1"; }
filehash() { cat "$JUJU_DIR/versions.sh" "$JUJU_DIR/$1" | sha256sum | cut -c1-16; }
