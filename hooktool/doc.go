// Package hooktool is the charm's only door to Juju: it runs hook tools (relation-get, secret-add, status-set, ...)
// through an injected Runner, with a timeout on every call, caches what it read for the rest of the hook, and counts
// the calls by tool. In real Juju every hook-tool call is a process and an RPC to the controller, so the cache is
// what keeps a hook from reading the same databag twice.
//
// Failures that a caller can act on are sentinel errors, tested with errors.Is: ErrNotFound (a secret or label that
// does not exist), ErrNotLeader, ErrPermission and ErrRelationNotFound. Everything else is a *ToolError.
//
// Typical use in a hook:
//
//	hc := hooktool.New(hooktool.EnvFromOS(), hooktool.ExecRunner{Timeout: 30 * time.Second})
//	leader, err := hc.IsLeader()
//	ids, err := hc.RelationIDs("certificates")
//	bag, err := hc.RelationData(ids[0], "requirer/0")
package hooktool
