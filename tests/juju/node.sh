#!/bin/bash
# The node: run by cluster.sh as PID 1 of a PID and mount namespace of its own, inside the network namespace. It
# starts etcd, the control plane, containerd, the kubelet, kube-proxy and CoreDNS and waits; when it dies (down.sh kills it)
# the kernel kills every process of the namespace, containers included, and drops every mount made in it.
. "$(dirname "$0")/lib.sh"
R=$STATE/run L=$STATE/logs P=$STATE/pki
mkdir -p "$L"
# nsenter put this process in the network namespace without remounting /sys: a sysfs of the namespace is mounted
# here (the CNI plugins read its interfaces there), with the machine's cgroup hierarchies moved back under it.
mkdir -p "$R/cgroup"; mount --rbind /sys/fs/cgroup "$R/cgroup"; mount -t sysfs sysfs /sys; mount --move "$R/cgroup" /sys/fs/cgroup
# /run (runc's state, the pods' network namespaces, the shims' sockets) and /var/log (the pods' logs, which the
# kubelet keeps in /var/log/pods whatever its root dir) are this node's own and go with it.
mount -t tmpfs tmpfs /run
mkdir -p "$STATE/varlog"; mount --bind "$STATE/varlog" /var/log
# Paths the CNI library (its result cache) and the kubelet (device plugins) use whatever their configuration says:
# each is a tmpfs of this node's; a directory made for it is listed for down.sh to remove.
for d in /var/lib/cni /var/lib/kubelet; do
  [ -d "$d" ] || { mkdir -p "$d"; echo "$d" >>"$R/made-dirs"; }
  mount -t tmpfs tmpfs "$d"
done
# The kubelet's volumes are mounted under its root dir and must propagate to the containers runc starts.
mkdir -p "$STATE/kubelet"; mount --bind "$STATE/kubelet" "$STATE/kubelet"; mount --make-rshared "$STATE/kubelet"
# No name is looked up outside: the node's own name is in its hosts file, and its resolver has no server.
echo "127.0.0.1 localhost
$NODE_IP tlsa-node" >"$R/hosts"; mount --bind "$R/hosts" /etc/hosts
echo "options timeout:1 attempts:1" >"$R/resolv.conf"; mount --bind "$R/resolv.conf" /etc/resolv.conf
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true
export PATH=$BIN:$PATH

start() { local name=$1; shift; "$@" >"$L/$name.log" 2>&1 & echo "$!" >"$R/$name.pid"; }

start etcd etcd --name node --data-dir "$STATE/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster node=http://127.0.0.1:2380
start containerd containerd --config "$STATE/containerd.toml"
start kube-apiserver kube-apiserver --etcd-servers=http://127.0.0.1:2379 --advertise-address=$NODE_IP \
  --bind-address=0.0.0.0 --secure-port=6443 --service-cluster-ip-range=$SERVICE_CIDR \
  --tls-cert-file=$P/apiserver.crt --tls-private-key-file=$P/apiserver.key --client-ca-file=$P/ca.crt \
  --kubelet-client-certificate=$P/admin.crt --kubelet-client-key=$P/admin.key \
  --service-account-key-file=$P/sa.pub --service-account-signing-key-file=$P/sa.key \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local --authorization-mode=Node,RBAC \
  --allow-privileged=true --kubelet-preferred-address-types=InternalIP,Hostname --enable-admission-plugins=NodeRestriction
start kube-controller-manager kube-controller-manager --kubeconfig=$STATE/admin.kubeconfig \
  --service-account-private-key-file=$P/sa.key --root-ca-file=$P/ca.crt --use-service-account-credentials \
  --cluster-signing-cert-file=$P/ca.crt --cluster-signing-key-file=$P/ca.key --service-cluster-ip-range=$SERVICE_CIDR \
  --bind-address=127.0.0.1 --leader-elect=false
start kube-scheduler kube-scheduler --kubeconfig=$STATE/admin.kubeconfig --bind-address=127.0.0.1 --leader-elect=false
start kubelet kubelet --config=$STATE/kubelet.yaml --kubeconfig=$STATE/admin.kubeconfig --root-dir=$STATE/kubelet --cert-dir=$STATE/kubelet/pki \
  --hostname-override=tlsa-node --node-ip=$NODE_IP
start kube-proxy kube-proxy --config=$STATE/kube-proxy.yaml
start coredns coredns -conf "$STATE/Corefile"
wait -n || true
echo "node: a component exited; see $L" >&2
wait
