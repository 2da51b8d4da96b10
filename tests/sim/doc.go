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
// change are buffered in the hook context and committed by commitLocked after exit 0: the secret
// changes first, call by call, then the rest at once, as commitHookChangesForOneUnit (so a commit
// can fail with its secrets applied: InjectCommitFailure, Options.RelationDocLimit);
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
// processes never share an address:port. A re-created pod (ChurnPod, Refresh, InjectPodKill)
// takes a new host octet from 254 down (cycling through 128-254), as a new pod gets a new IP.
//
// Pods. A new pod has a fresh charm dir (the charm's files only), fresh containers and a new
// address, and runs Juju's new-pod sequence (upgrade-charm, config-changed, start, ...); see
// docs/JUJU-FIDELITY.md "Pod life". Every container has private scratch dirs (/tmp, /var/tmp,
// /dev/shm, /root, /run), trust store, /var/lib, /etc/hosts and hostname.
//
// Time. The controller clock (Options.Now, Sim.Now, Sim.Advance) drives secret expiry:
// Advance runs the expiry worker up to the new time.
//
// Deliberate differences:
//   - Timers fire only when a test asks: update-status (UpdateStatus), secret rotation
//     (RotateSecret) and secret expiry (Advance, at each timer's due time; a due time on a
//     whole minute fires, where Juju's "strictly before now" fires a moment later). Auto-retry
//     (Options.AutoRetry) has no backoff.
//   - By default units run one hook at a time in a fixed round-robin order, and relations are visited
//     in id order (non-peer relations first, then peers, as Juju), so hook interleavings are
//     deterministic (Juju runs units concurrently and iterates each group of relations in map order). Options.Concurrency runs units side by side, as Juju does; the
//     semantic tests keep the default, the scale-storm benchmark reports both.
//   - Hook-tool calls from concurrent hooks are served one at a time (one lock over the model).
//   - Leadership stays with a unit while its pod is re-created (in Juju the lease may lapse).
//   - A pod killed under an action is not modelled (Juju fails the interrupted action).
//   - Refusing an application grant after unit grants uses the simulator's own message.
//   - Hook tools: `--help` prints a short usage line; `-o/--output` is not supported; invalid-port
//     messages are the simulator's own; state-set and leader-set share relation-set's parser.
//   - The environment has SIM_CONTAINERS_DIR (where the unit's Pebble sockets are) and no
//     KUBERNETES_* variables.
//   - Action parameters are checked for type and required keys, not JSON-Schema bounds such as
//     minimum; action results have no size limit of their own (Juju's is MongoDB's 16 MiB).
//   - key#base64 secret content is stored decoded.
//   - Containers share the host's /etc (apart from the trust store and hosts), /usr, /opt and
//     /var outside /var/lib and /var/tmp.
//   - User secrets (Model.AddSecret, UpdateSecret, GrantSecret, RevokeSecret, RemoveSecret) have
//     no --info, --file, expiry, rotation or auto-prune, and no `juju secrets`/`show-secret` view
//     (tests read content with SecretContentForTest, as an admin's show-secret --reveal would).
//   - No storage, no subordinates, no juju-exec, no secret backends.
//   - goal-state gives no `since` (no status history); a cross-model relation's remote application is keyed by
//     its SAAS name, where Juju gives the offer URL.
