#!/bin/bash
# Tears down what up.sh started: the node's PID namespace (every process of it, containers included, and with them
# every mount made in it), the network namespace (its interfaces and iptables rules), the cgroups the kubelet made,
# and the cluster's state. Built binaries and images stay in $CACHE for the next up.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root"
if [ -f "$STATE/run/node.pid" ]; then
  pid=$(cat "$STATE/run/node.pid")
  if kill -0 "$pid" 2>/dev/null; then
    # The pid is nsenter's, which exec'd unshare; --kill-child takes its child, PID 1 of the namespace, and
    # with it the namespace's every process.
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
fi
# Nothing of ours may be left: a process still running out of the state or cache dirs is killed.
for p in $(pgrep -f "$STATE/|$CACHE/bin/" || true); do [ "$p" != $$ ] && kill -KILL "$p" 2>/dev/null || true; done
sleep 1
ip netns del "$NETNS" 2>/dev/null || true
rm -rf "/etc/netns/$NETNS"; rmdir /etc/netns 2>/dev/null || true
# Cgroups the kubelet and runc made (cgroupfs driver): empty once their processes are gone; removed deepest first.
for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/*/k8s.io; do
  [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
done
# Mounts were made in the node's mount namespace and went with it; any that leaked is unmounted before the state goes.
{ grep -F " $STATE/" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
# Directories node.sh made on the machine to mount its own tmpfs on: empty there.
made=$(cat "$STATE/run/made-dirs" 2>/dev/null || true)
for d in $made; do rmdir "$d" 2>/dev/null || true; done
rm -rf "$STATE/run" "$STATE/containerd" "$STATE/kubelet" "$STATE/etcd" "$STATE/pv" "$STATE/cni" "$STATE/juju-data" "$STATE/env" "$STATE/varlog"
# Check: nothing of ours is left.
left=""
ip netns list 2>/dev/null | grep -qw "$NETNS" && left="$left netns:$NETNS"
[ -e "/etc/netns/$NETNS" ] && left="$left /etc/netns/$NETNS"
grep -qF " $STATE/" /proc/self/mounts && left="$left mounts"
pgrep -f "$STATE/|$CACHE/bin/" >/dev/null && left="$left processes"
ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null | grep -q . && left="$left cgroups"
for d in $made; do [ -e "$d" ] && left="$left $d"; done
[ -z "$left" ] || die "down: left behind:$left"
log "down: done; nothing left (network namespace, processes, mounts, cgroups)"
