# Bootstrap phase of up.sh: a Juju controller on the cluster, bootstrapped by the client run inside the namespace,
# with the local stand-in controller charm; then the env file tests/integration sources.

controller_charm() { # the stand-in charm (tests/juju/charm) as a .charm archive
  python3 - "$JUJU_DIR/charm" "$1" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(src)):
        info = zipfile.ZipInfo(name)
        info.external_attr = (0o755 if name == "dispatch" else 0o644) << 16
        with open(os.path.join(src, name), "rb") as f:
            z.writestr(info, f.read())
PY
}

jj() { inns env JUJU_DATA="$STATE/juju-data" KUBECONFIG="$STATE/admin.kubeconfig" "$BIN/juju" "$@"; }

write_env() {
  cat >"$STATE/env" <<ENV
# Written by tests/juju/up.sh: the real Juju controller tests/integration runs against. Every command that talks
# to the cluster or the controller must run inside the network namespace: \$TLSA_JUJU_EXEC <command>. The namespace
# has no route out, to the Go module proxy either: build test binaries outside (go test -c), run them inside.
# Names under cluster.local resolve there (CoreDNS on the node).
export JUJU_DATA=$STATE/juju-data
export JUJU_CONTROLLER=$CONTROLLER
export KUBECONFIG=$STATE/admin.kubeconfig
export TLSA_JUJU_NETNS=$NETNS
export TLSA_JUJU_EXEC="ip netns exec $NETNS"
export TLSA_JUJU_BIN=$BIN
export TLSA_JUJU_VERSION=$JUJU_VERSION
export TLSA_AUTHORITY_IMAGE=$AUTHORITY_IMAGE
export TLSA_REQUIRER_IMAGE=$REQUIRER_IMAGE
export PATH=$BIN:\$PATH
ENV
}

phase_bootstrap() {
  local charm=$STATE/juju-controller.charm
  controller_charm "$charm"
  mkdir -p "$STATE/juju-data"
  jj add-k8s tlsa-k8s --client --storage local >"$STATE/logs/add-k8s.log" 2>&1 || { cat "$STATE/logs/add-k8s.log" >&2; die "bootstrap: juju add-k8s"; }
  log "bootstrap: juju bootstrap tlsa-k8s $CONTROLLER (log: $STATE/logs/bootstrap.log)"
  jj bootstrap tlsa-k8s "$CONTROLLER" --controller-charm-path "$charm" --debug >"$STATE/logs/bootstrap.log" 2>&1 \
    || { tail -n 30 "$STATE/logs/bootstrap.log" >&2; die "bootstrap: juju bootstrap"; }
  write_env
  jj status -m controller >&2 || true
}
