package sim

// How the simulator maps to Juju 3.6 (shared/JUJU.md), and where it deliberately differs.
//
// Agent state. Each unit keeps what a uniter keeps (installed, started, config version seen,
// per-relation members and settings versions seen, leadership notified, Pebble boot ids seen)
// and nextHook derives the next hook from the difference with the model, in the resolver's
// priority order. A hook's state change is applied only when it succeeds, so a failed or
// killed hook is simply chosen again: "the hook stays pending".
//
// Transactions. relation-set, state-set/delete, open/close-port, leader-set and every secret
// change are buffered in the hook context and committed by commitLocked after exit 0;
// status-set, application-version-set, juju-log, action-log and secret-get consumer tracking
// are immediate. Relation data is diffed at commit: no diff, no version bump, no
// relation-changed.
//
// Naming. A cross-model relation is one object shared by both models; names are translated per
// viewer (SAAS alias on the consumer side, remote-<32 hex> on the offerer side), so databags
// need no replication.
//
// Addresses. Unit N of the k-th application deployed in a simulator gets 127.<r>.<k>.<N+1>,
// where r (10-199) is reserved per simulator with an flock, so concurrently running test
// processes never share an address:port.
//
// Deliberate differences:
//   - No timers: update-status, secret expiry and rotation fire when a test calls UpdateStatus,
//     ExpireSecrets or RotateSecret; auto-retry (Options.AutoRetry) has no backoff.
//   - Units run one hook at a time in a fixed round-robin order, so hook interleavings between
//     units are deterministic (Juju runs units concurrently).
//   - When a relation is removed, JUJU_DEPARTING_UNIT in the departed hooks is the remote unit.
//   - Refusing an application grant after unit grants uses the simulator's own message.
//   - No storage, no subordinates, no juju-exec, no secret backends.
