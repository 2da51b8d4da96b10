# Build phases of up.sh: dqlite from Debian's source package, then Kubernetes, Juju and Pebble from the module proxy.

# dqlite: bookworm's libdqlite-dev (1.11) is too old for Juju 4; sid's source package is fetched through a private
# sources list and lists dir (the machine's own apt configuration is not touched) and built with Debian's libuv,
# lz4 and sqlite. Installed into $CACHE/dqlite, which the Juju agents link against and the operator image carries.
phase_dqlite() {
  local key; key=$(stamp dqlite "$DQLITE_DEB_VERSION" "$(declare -f phase_dqlite)")
  if built dqlite "$key" && [ -f "$CACHE/dqlite/lib/libdqlite.so" ]; then log "dqlite: cached ($DQLITE_DEB_VERSION)"; return; fi
  # The source package is kept: once sid moves past the pin, a machine that fetched it still builds it.
  local apt=$CACHE/apt src=$CACHE/src/dqlite-$DQLITE_DEB_VERSION
  if [ ! -f "$src/dqlite_$DQLITE_DEB_VERSION.dsc" ]; then
    rm -rf "$apt" "$src"; mkdir -p "$apt/lists/partial" "$src"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" >"$apt/sources.list"
    local opts=(-qq -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$apt/lists" -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update
    ( cd "$src" && apt-get "${opts[@]}" source --download-only "dqlite=$DQLITE_DEB_VERSION" ) \
      || die "dqlite: Debian sid no longer has dqlite $DQLITE_DEB_VERSION (it has: $(apt-cache "${opts[@]}" showsrc dqlite 2>/dev/null | sed -n 's/^Version: //p' | tr '\n' ' ')); update DQLITE_DEB_VERSION in tests/juju/versions.sh"
  fi
  rm -rf "$src/tree"
  ( cd "$src" && dpkg-source -x --no-check dqlite_*.dsc tree >/dev/null ) || die "dqlite: cannot unpack the source package"
  log "dqlite: building $DQLITE_DEB_VERSION"
  ( cd "$src/tree" && autoreconf -i >/dev/null 2>&1 && "${HEAVY[@]}" ./configure -q --enable-build-raft --prefix="$CACHE/dqlite" >/dev/null \
      && "${HEAVY[@]}" make -s -j2 >/dev/null 2>&1 && make -s install >/dev/null ) || die "dqlite: build failed (in $src/tree)"
  echo "$DQLITE_DEB_VERSION (Debian sid source package)" >"$CACHE/dqlite/VERSION"
  mark dqlite "$key"
}


# A module's source from the proxy, copied writable so it can be the main module of a build.
modsrc() { # modsrc MODULE VERSION DEST
  local dir; dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || die "cannot download $1@$2 from the module proxy"
  rm -rf "$3"; mkdir -p "$(dirname "$3")"; cp -r "$dir" "$3"; chmod -R u+w "$3"
}

build_kubernetes() {
  local key; key=$(stamp k8s "$K8S_VERSION" "$(declare -f build_kubernetes)" "$(go version)")
  if built k8s "$key"; then log "kubernetes: cached ($K8S_VERSION)"; return; fi
  local w=$CACHE/src/k8s-wrapper v=${K8S_VERSION#v}
  rm -rf "$w"; mkdir -p "$w"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with replaces to ./staging: a wrapper module requires it
  # and replaces each staging module with its published v0.<minor>.<patch> release.
  local staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
    code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
    dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
    kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
    sample-controller"
  { echo "module tlsa/k8swrapper"; echo; echo "go 1.24"; echo; echo "require k8s.io/kubernetes $K8S_VERSION"; echo
    for m in $staging; do echo "replace k8s.io/$m => k8s.io/$m v0.${v#1.}"; done; } >"$w/go.mod"
  printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kubelet/app"\n\nfunc main() {}\n' >"$w/main.go"
  ( cd "$w" && go mod tidy >/dev/null 2>&1 || go mod download ) || die "kubernetes: cannot resolve the wrapper module"
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$v" | cut -d. -f2) -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  mkdir -p "$BIN"
  for c in kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy kubectl; do
    log "kubernetes: building $c"
    ( cd "$w" && CGO_ENABLED=0 "${HEAVY[@]}" go build -trimpath -ldflags "$ld" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c" ) || die "kubernetes: cannot build $c"
  done
  mark k8s "$key"
}

# Juju 4.1-beta2: the client (the minimal, Kubernetes-only provider set: the full set needs a goose version the
# proxy refuses) and the agents, with cgo against the dqlite built above.
build_juju() {
  local key; key=$(stamp juju "$JUJU_MODVERSION" "$(declare -f build_juju)" "$(cat "$CACHE/stamps/dqlite" 2>/dev/null)" "$(go version)")
  if built juju "$key"; then log "juju: cached ($JUJU_VERSION)"; return; fi
  local src=$CACHE/src/juju
  modsrc "$JUJU_MODULE" "$JUJU_MODVERSION" "$src"
  grep -q "const version = \"$JUJU_VERSION\"" "$src/core/version/version.go" || die "juju: $JUJU_MODVERSION is not $JUJU_VERSION"
  mkdir -p "$BIN"
  log "juju: building the client"
  ( cd "$src" && CGO_ENABLED=0 "${HEAVY[@]}" go build -trimpath -ldflags "-s -w" -tags minimal,provider_kubernetes -o "$BIN/juju" ./cmd/juju ) || die "juju: cannot build the client"
  local d=$CACHE/dqlite
  for c in jujuagentd containeragent jujuc; do
    log "juju: building $c"
    ( cd "$src" && CGO_ENABLED=1 CGO_CFLAGS="-I$d/include" CGO_LDFLAGS="-L$d/lib -Wl,-rpath,/usr/local/lib" \
        "${HEAVY[@]}" go build -trimpath -ldflags "-s -w" -tags dqlite,libsqlite3,minimal,provider_kubernetes -o "$BIN/$c" "./cmd/$c" ) || die "juju: cannot build $c"
  done
  mark juju "$key"
}

build_pebble() {
  local key; key=$(stamp pebble "$PEBBLE_VERSION" "$(go version)")
  if built pebble "$key"; then log "pebble: cached ($PEBBLE_VERSION)"; return; fi
  local src=$CACHE/src/pebble
  modsrc github.com/canonical/pebble "$PEBBLE_VERSION" "$src"
  ( cd "$src" && CGO_ENABLED=0 "${HEAVY[@]}" go build -trimpath -ldflags "-s -w" -o "$BIN/pebble" ./cmd/pebble ) || die "pebble: cannot build"
  mark pebble "$key"
}

# CoreDNS, the cluster's DNS: the node runs it on its own address with the kubernetes plugin alone (no forwarding).
build_coredns() {
  local key; key=$(stamp coredns "$COREDNS_VERSION" "$(declare -f build_coredns)" "$(go version)")
  if built coredns "$key"; then log "coredns: cached ($COREDNS_VERSION)"; return; fi
  local src=$CACHE/src/coredns
  modsrc github.com/coredns/coredns "$COREDNS_VERSION" "$src"
  log "coredns: building"
  ( cd "$src" && CGO_ENABLED=0 "${HEAVY[@]}" go build -trimpath -ldflags "-s -w" -o "$BIN/coredns" . ) || die "coredns: cannot build"
  mark coredns "$key"
}

phase_build() { build_kubernetes; build_juju; build_pebble; build_coredns; }
phase_coredns() { build_coredns; }
phase_kubernetes() { build_kubernetes; }
phase_juju() { build_juju; }
phase_pebble() { build_pebble; }
