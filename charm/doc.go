// Package charm is the tls-authority charm: one idempotent reconcile for every hook, and a handler per action.
//
// A hook reads what it needs once (config, leadership, the peer databag that publishes the CA), computes what
// should be, and writes only the differences: the CA secret and the peer databag on the leader, the workload
// container's files, trust store and Pebble layer on every unit, and the unit's status.
//
// The CA key lives only in the application-owned Juju secret labelled "tls-authority-ca". Everything public about
// the CA (certificate, trust bundle) is published by the leader in the peer relation's application databag, which
// every unit reads, so non-leaders serve the CA without ever reading the key.
package charm
