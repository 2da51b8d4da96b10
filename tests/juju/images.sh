# Image phase of up.sh: OCI images assembled with umoci into one layout, $CACHE/images/oci.tar, which the cluster
# phase imports into containerd's k8s.io namespace. Every image but pause shares one Debian root filesystem layer.

# The names images are imported under: Juju asks for the first two with PullIfNotPresent, so these are used and
# never pulled; the workload images are the charms' resources (tests/integration reads them from the env file).
OPERATOR_IMAGE=ghcr.io/juju/jujud-operator:$JUJU_VERSION
CHARMBASE_IMAGE=ghcr.io/juju/charm-base:ubuntu-24.04
PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
AUTHORITY_IMAGE=localhost/tls-authority-agent:local
REQUIRER_IMAGE=localhost/tls-requirer-server:local
ROOTFS_PACKAGES=ca-certificates,openssl,curl,python3,less,libuv1,liblz4-1,libsqlite3-0

base_rootfs() {
  local key; key=$(stamp rootfs "$ROOTFS_PACKAGES" bookworm minbase)
  if built rootfs "$key" && [ -f "$CACHE/images/rootfs.tar" ]; then return; fi
  local r=$CACHE/images/rootfs
  rm -rf "$r"; mkdir -p "$r"
  log "images: debootstrap bookworm"
  "${HEAVY[@]}" debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" bookworm "$r" http://deb.debian.org/debian >"$CACHE/images/debootstrap.log" 2>&1 \
    || die "images: debootstrap failed (see $CACHE/images/debootstrap.log)"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
  tar -C "$r" -cf "$CACHE/images/rootfs.tar" . && rm -rf "$r"
  mark rootfs "$key"
}

# umoci_image TAG FROM_TAG FILL CONFIG...: a new image TAG in the layout: FROM_TAG's layers ("" for none) and one
# layer with what the function FILL puts into the root filesystem given as its argument.
umoci_image() {
  local tag=$1 from=$2 fill=$3; shift 3
  local oci=$CACHE/images/oci b=$CACHE/images/bundle-$tag
  rm -rf "$b"
  if [ -z "$from" ]; then umoci new --image "$oci:$tag"; else umoci config --image "$oci:$from" --tag "$tag" >/dev/null; fi
  umoci unpack --image "$oci:$tag" "$b" >/dev/null
  "$fill" "$b/rootfs"
  umoci repack --image "$oci:$tag" "$b" >/dev/null
  [ $# -gt 0 ] && umoci config --image "$oci:$tag" "$@" >/dev/null
  rm -rf "$b"
}
fill_base() { tar -C "$1" -xf "$CACHE/images/rootfs.tar"; }
# As caas/Dockerfile lays out the operator image: the syslog user, the juju user and group (uid/gid 170), the agents
# and Pebble in /opt, jujud a link to jujuagentd; plus libdqlite, which Juju's release build links statically.
fill_operator() {
  chroot "$1" sh -c 'useradd --system --no-create-home --shell /usr/sbin/nologin syslog && groupadd --gid 170 juju && useradd --uid 170 --gid 170 --no-create-home --shell /usr/bin/bash juju'
  cp "$BIN/jujuagentd" "$BIN/jujuc" "$BIN/containeragent" "$BIN/pebble" "$1/opt/"
  ln -s jujuagentd "$1/opt/jujud"
  mkdir -p "$1/var/lib/juju" "$1/usr/local/lib"
  cp -a "$CACHE"/dqlite/lib/libdqlite.so* "$1/usr/local/lib/"
  chroot "$1" ldconfig
}
fill_authority() { cp -a "$REPO/build/image/." "$1/"; }
fill_requirer() { cp -a "$REPO/build/requirer-image/." "$1/"; }
fill_pause() { cp "$CACHE/images/pause" "$1/pause"; }

phase_images() {
  ( cd "$REPO" && env -u GOFLAGS "${HEAVY[@]}" make -s image requirer >/dev/null ) || die "images: make image requirer"
  base_rootfs
  local inputs; inputs=$(cd "$REPO" && find build/image build/requirer-image -type f -print0 | sort -z | xargs -0 sha256sum)
  local key; key=$(stamp images "$(declare -f phase_images umoci_image fill_base fill_operator fill_authority fill_requirer fill_pause)" "$OPERATOR_IMAGE $CHARMBASE_IMAGE $PAUSE_IMAGE $AUTHORITY_IMAGE $REQUIRER_IMAGE" "$(cat "$CACHE/stamps/rootfs" "$CACHE/stamps/juju" "$CACHE/stamps/pebble")" "$inputs")
  if built images "$key" && [ -f "$CACHE/images/oci.tar" ]; then log "images: cached"; return; fi
  local src; src=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  gcc -Os -static -o "$CACHE/images/pause" "$src/build/pause/linux/pause.c" || die "images: cannot build pause"
  local oci=$CACHE/images/oci
  rm -rf "$oci"; umoci init --layout "$oci"
  log "images: assembling"
  umoci_image base "" fill_base
  umoci_image charmbase base true --config.workingdir /
  umoci_image operator base fill_operator --config.workingdir /var/lib/juju --config.entrypoint sh --config.entrypoint -c
  umoci_image authority base fill_authority
  umoci_image requirer base fill_requirer
  umoci_image pause "" fill_pause --config.entrypoint /pause
  # ctr names an imported image after its io.containerd.image.name annotation.
  jq --arg op "$OPERATOR_IMAGE" --arg cb "$CHARMBASE_IMAGE" --arg pa "$PAUSE_IMAGE" --arg au "$AUTHORITY_IMAGE" --arg rq "$REQUIRER_IMAGE" '
    .manifests |= [ .[] | select(.annotations["org.opencontainers.image.ref.name"] != "base")
      | .annotations["io.containerd.image.name"] = ({operator: $op, charmbase: $cb, pause: $pa, authority: $au, requirer: $rq}[.annotations["org.opencontainers.image.ref.name"]]) ]' \
    "$oci/index.json" >"$oci/index.json.new" && mv "$oci/index.json.new" "$oci/index.json"
  tar -C "$oci" -cf "$CACHE/images/oci.tar" . && rm -rf "$oci"
  mark images "$key"
}
phase_rootfs() { base_rootfs; }
