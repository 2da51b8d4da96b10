# Pinned inputs of the real-Juju controller (tests/juju/up.sh). Changing one rebuilds what depends on it.
K8S_VERSION=v1.34.12
JUJU_MODULE=github.com/juju/juju
JUJU_MODVERSION=v0.0.0-20260713142945-570e41eadd7e   # 4.1-beta2, the commit juju/terraform-provider-juju pins
JUJU_VERSION=4.1-beta2
PEBBLE_VERSION=v1.32.2
# dqlite comes from Debian's source package (sid); the version fetched is checked against this pin.
DQLITE_DEB_VERSION=1.18.7-1
COREDNS_VERSION=v1.14.7  # the cluster DNS, run on the node (no pod)
