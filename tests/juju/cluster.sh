# Cluster phase of up.sh: a single-node Kubernetes in network namespace $NETNS, which has no interface to the
# outside: the node's address is on a bridge with no port (the default route goes there and nowhere), pods are on a CNI
# bridge inside it. node.sh runs the components in a PID and mount namespace of their own (down.sh kills it).

P_=$STATE/pki
pki() {
  [ -f "$P_/ca.crt" ] && return
  mkdir -p "$P_"; local o="openssl"
  $o req -x509 -newkey rsa:2048 -nodes -keyout "$P_/ca.key" -out "$P_/ca.crt" -days 30 -subj "/CN=tlsa-juju-ca" 2>/dev/null
  # cert NAME SUBJECT [SANs]: a leaf signed by the CA.
  cert() {
    $o req -newkey rsa:2048 -nodes -keyout "$P_/$1.key" -out "$P_/$1.csr" -subj "$2" 2>/dev/null
    local ext="extendedKeyUsage=serverAuth,clientAuth"; [ -n "${3:-}" ] && ext="$ext
subjectAltName=$3"
    $o x509 -req -in "$P_/$1.csr" -CA "$P_/ca.crt" -CAkey "$P_/ca.key" -CAcreateserial -days 30 -out "$P_/$1.crt" -extfile <(echo "$ext") 2>/dev/null
    rm -f "$P_/$1.csr"
  }
  # Juju's Kubernetes client ignores insecure-skip-tls-verify: the SANs hold every address it may use.
  cert apiserver "/CN=kube-apiserver" "IP:$SERVICE_IP,IP:$NODE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=admin"
  $o genrsa -out "$P_/sa.key" 2048 2>/dev/null; $o rsa -in "$P_/sa.key" -pubout -out "$P_/sa.pub" 2>/dev/null
}

configs() {
  cat >"$STATE/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: tlsa
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $(base64 -w0 "$P_/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 "$P_/admin.crt")
    client-key-data: $(base64 -w0 "$P_/admin.key")
contexts:
- name: tlsa
  context: {cluster: tlsa, user: admin}
current-context: tlsa
KC
  mkdir -p "$STATE/cni/net.d" "$STATE/containerd"
  cat >"$STATE/cni/net.d/10-tlsa.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "tlsa", "plugins": [
  {"type": "bridge", "bridge": "tlsa0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam", "ranges": [[{"subnet": "${POD_CIDR%.0.0/16}.0.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CNI
  cat >"$STATE/containerd.toml" <<CT
version = 2
root = "$STATE/containerd/root"
state = "/run/containerd"
[grpc]
  address = "$STATE/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
CT
  cat >"$STATE/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P_/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$NODE_IP]
resolvConf: $STATE/resolv.conf
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
KL
  # The cluster's DNS is CoreDNS on the node's address, answering for cluster.local (and the reverse zones) only:
  # nothing is forwarded, no name is looked up outside.
  echo "options timeout:1 attempts:2" >"$STATE/resolv.conf"
  cat >"$STATE/Corefile" <<CF
cluster.local in-addr.arpa ip6.arpa {
    bind $NODE_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $STATE/admin.kubeconfig
        pods insecure
    }
    cache 10
}
CF
  cat >"$STATE/kube-proxy.yaml" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: tlsa-node
clientConnection: {kubeconfig: $STATE/admin.kubeconfig}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
KP
}

kctl() { inns "$BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }
waitfor() { # waitfor SECONDS WHAT COMMAND...
  local n=$1 what=$2; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return; sleep 1; done
  die "cluster: $what not ready after ${n}s (logs in $STATE/logs)"
}

phase_cluster() {
  [ -f "$STATE/run/node.pid" ] && kill -0 "$(cat "$STATE/run/node.pid")" 2>/dev/null && die "cluster: already up (tests/juju/down.sh first)"
  [ -f "$CACHE/images/oci.tar" ] || die "cluster: no images (run the images phase)"
  mkdir -p "$STATE/run" "$STATE/logs"
  pki; configs
  ip netns list | grep -qw "$NETNS" && die "cluster: network namespace $NETNS exists (tests/juju/down.sh first)"
  ip netns add "$NETNS"
  # ip netns exec binds these over /etc/hosts and /etc/resolv.conf: commands run in the namespace (the juju client,
  # kubectl, the suite) ask the cluster DNS and look no name up outside.
  mkdir -p "/etc/netns/$NETNS"
  printf '127.0.0.1 localhost\n%s tlsa-node\n' "$NODE_IP" >"/etc/netns/$NETNS/hosts"
  printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$NODE_IP" >"/etc/netns/$NETNS/resolv.conf"
  inns ip link set lo up
  inns ip link add node0 type bridge
  inns ip addr add "$NODE_IP/32" dev node0
  inns ip link set node0 up
  # The only route out goes to that portless bridge, which drops what it is given (no dummy driver here); it also
  # makes the service range routable, as kube-proxy's DNAT of locally made connections needs.
  inns ip route add default dev node0
  # nsenter, not ip netns exec, which would remount /sys and lose the cgroup hierarchies (node.sh mounts a sysfs
  # of the namespace itself). setsid: the node is no child of this shell's session; its PID namespace dies with it (--kill-child).
  setsid nsenter --net="/run/netns/$NETNS" unshare --pid --fork --kill-child --mount --mount-proc --propagation private \
    "$JUJU_DIR/node.sh" >"$STATE/logs/node.log" 2>&1 </dev/null &
  echo $! >"$STATE/run/node.pid"
  waitfor 120 containerd test -S "$STATE/containerd/containerd.sock"
  log "cluster: importing images"
  "${HEAVY[@]}" ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import "$CACHE/images/oci.tar" >/dev/null \
    || die "cluster: ctr images import"
  waitfor 180 apiserver kctl get --raw /readyz
  waitfor 180 "the node" kctl wait --for=condition=Ready node/tlsa-node --timeout=2s
  storage
  log "cluster: up (kubectl: ip netns exec $NETNS kubectl --kubeconfig $STATE/admin.kubeconfig)"
}

# Local PersistentVolumes behind a no-provisioner StorageClass (hostPath volumes ignore fsGroup, which Juju's
# controller needs for /var/lib/juju).
PV_COUNT=${JUJU_PV_COUNT:-24}
storage() {
  mkdir -p "$STATE/pv"
  { cat <<SC
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
SC
    for i in $(seq -w 1 "$PV_COUNT"); do
      mkdir -p "$STATE/pv/pv$i"
      cat <<PV
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: tlsa-pv$i}
spec:
  capacity: {storage: 100Gi}   # nominal: Juju asks 20Gi for the controller
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  local: {path: $STATE/pv/pv$i}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [tlsa-node]}]}]
PV
    done; } | kctl apply -f - >/dev/null || die "cluster: cannot create the storage class and volumes"
}
