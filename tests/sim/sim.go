// Package sim is a Juju 3.6 model simulator for testing Kubernetes sidecar charms without a
// controller. It reads like a small Juju: models hold applications and units; each hook is a real
// process (the charm's dispatch) with Juju's environment and hook tools on PATH; the tools talk
// to the simulator over a unix socket; a hook's relation, state, port and secret writes are
// committed only when it exits 0. Relations, leadership, config, status, secrets, actions,
// offers/consumers and one real Pebble per workload container follow shared/JUJU.md.
//
// The simulator is single-threaded by design: one hook runs at a time, units are visited in a
// deterministic order, so that tests assert exact hook sequences.
package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures a simulator.
type Options struct {
	// Dir is the work directory; models, unit charm dirs and containers live below it.
	Dir string
	// BinDir is where jujuc (and, with containers, pebble and nsexec) are built; reused between runs.
	// Defaults to Dir/bin.
	BinDir string
	// Log receives the transcript: one line per hook, plus juju-log lines. Nil discards it.
	Log io.Writer
	// HookTimeout bounds each hook process (default 2 minutes); a hook that runs out fails.
	HookTimeout time.Duration
	// AutoRetry makes Settle retry a failed hook up to this many times before leaving the unit in
	// error (Juju retries with backoff by default; tests usually want to see the error: 0).
	AutoRetry int
	// NoContainers skips starting Pebble for workload containers (pebble-ready never fires).
	NoContainers bool
	// Concurrency, when above 1, runs up to that many units' hooks at once, as Juju's unit agents do (each
	// unit's uniter is its own worker: a unit runs one hook at a time, units run side by side). Events that
	// arrive while a unit is busy coalesce into the one hook its resolver picks next. 0 or 1: one hook at a
	// time in the whole controller, round-robin over the units, which keeps transcripts and hook orders
	// deterministic (the default, and what the semantic tests pin).
	Concurrency int
	// Now is the controller's clock (default time.Now); Sim.Advance moves it forward on top. Secret expiry
	// (--expire durations, the expiry worker) and secret ids read it.
	Now func() time.Time
	// OwnersReadLatest gives the units of a secret's owner the latest revision on every secret-get, as Juju did
	// before juju/juju#16598 (3.1.7, 3.3.1, 3.4.0). By default an owner reads like a consumer, as 3.6 and 4 do: the
	// revision it last read until --refresh.
	OwnersReadLatest bool
	// RelationDocLimit is the largest relation settings document (one unit's or one application's bag in one
	// relation) a commit may leave, in BSON bytes; 0: MongoDB's 16 MiB (16,777,216), Juju 3.6's limit.
	RelationDocLimit int
}

// Sim is a simulated Juju controller with its models.
type Sim struct {
	opts Options
	// runMu serialises hook execution (Settle, RunAction): one hook at a time in the whole
	// controller keeps transcripts and hook orders deterministic.
	runMu sync.Mutex
	// mu guards all model state; hook-tool calls take it while a hook runs.
	mu      sync.Mutex
	models  []*Model
	toolDir string
	sock    string
	ln      net.Listener
	wg      sync.WaitGroup

	contexts map[string]*hookContext
	ctxSeq   int
	failures []*injection
	// commitFaults are the armed InjectCommitFailure injections.
	commitFaults []*commitFault
	secrets      map[string]*secret // by bare id
	secSeq       int
	unitSeq      int
	appSeq       int
	recSeq       int
	records      []HookRecord

	// advanced is how far Advance has moved the clock past Options.Now; expiryRan is the clock when the secret
	// expiry worker last ran (clock.go).
	advanced  time.Duration
	expiryRan time.Time

	// netOctet is the second octet of every unit address of this simulator: 127.<netOctet>.<app>.<unit+1>.
	netOctet int
	netLock  *os.File
	closed   bool
	runtime  *containerRuntime
	actions  []*ActionResult
}

type injection struct {
	unit, hook string
	after      int
	tool       string // when set, after counts this tool's calls only (InjectFailureAfterTool)
	pod        bool   // the unit's pod dies with the hook (InjectPodKill)
}

// New builds the hook tools, starts the hook-tool server and returns an empty controller.
func New(o *Options) (*Sim, error) {
	s := &Sim{opts: *o, contexts: map[string]*hookContext{}, secrets: map[string]*secret{}}
	if s.opts.Dir == "" {
		return nil, fmt.Errorf("cannot create simulator: no work dir")
	}
	if s.opts.BinDir == "" {
		s.opts.BinDir = filepath.Join(s.opts.Dir, "bin")
	}
	if s.opts.HookTimeout == 0 {
		s.opts.HookTimeout = 2 * time.Minute
	}
	if s.opts.Log == nil {
		s.opts.Log = io.Discard
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	for _, d := range []string{s.opts.Dir, s.opts.BinDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create simulator: %w", err)
		}
	}
	dir, err := filepath.Abs(s.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot create simulator: %w", err)
	}
	s.opts.Dir = dir
	if s.toolDir, err = installTools(s.opts.BinDir, filepath.Join(s.opts.Dir, "tools")); err != nil {
		return nil, err
	}
	// Unix socket paths are limited to 108 bytes; a temp dir keeps it short whatever Dir is.
	sockDir, err := os.MkdirTemp("", "jujusim")
	if err != nil {
		return nil, fmt.Errorf("cannot create simulator: %w", err)
	}
	s.sock = filepath.Join(sockDir, "agent.socket")
	if err := s.allocateNet(); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("unix", s.sock); err != nil {
		return nil, fmt.Errorf("cannot create simulator: %w", err)
	}
	s.wg.Add(1)
	go s.serve()
	if !s.opts.NoContainers {
		s.runtime = newContainerRuntime(s)
	}
	return s, nil
}

// Close stops every Pebble and the hook-tool server.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var units []*Unit
	for _, m := range s.models {
		for _, a := range m.apps {
			units = append(units, a.units...)
			a.svc.close()
		}
	}
	s.mu.Unlock()
	var firstErr error
	for _, u := range units {
		if err := u.stopContainers(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	s.ln.Close()
	s.wg.Wait()
	os.RemoveAll(filepath.Dir(s.sock))
	if s.netLock != nil {
		s.netLock.Close()
	}
	return firstErr
}

func (s *Sim) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Log, format+"\n", args...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// AddModel creates a model with a random UUID.
func (s *Sim) AddModel(name string) (*Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.models {
		if m.name == name {
			return nil, fmt.Errorf("cannot add model: model %q already exists", name)
		}
	}
	m := &Model{sim: s, name: name, uuid: newUUID(), index: len(s.models) + 1, offers: map[string]*offer{}, saas: map[string]*saas{}}
	m.dir = filepath.Join(s.opts.Dir, "models", name)
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot add model: %w", err)
	}
	s.models = append(s.models, m)
	return m, nil
}

// Models returns the models in creation order.
func (s *Sim) Models() []*Model {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Model(nil), s.models...)
}

// Model returns the model with that name, or nil.
func (s *Sim) Model(name string) *Model {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.models {
		if m.name == name {
			return m
		}
	}
	return nil
}

// Records returns every hook and action run in the controller, in execution order.
func (s *Sim) Records() []HookRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]HookRecord(nil), s.records...)
}

func (s *Sim) nextRecordSeq() int {
	s.recSeq++
	return s.recSeq
}

// InjectFailure kills the next run of hook (or action, by name; "*" for whatever runs next) on unit right after its
// afterToolCalls-th hook-tool call has been answered (0: at its first call, before answering is
// not possible, so 0 behaves as 1). The killed hook's writes are dropped and it is requeued, as
// Juju requeues a hook whose process died. Each injection fires once.
func (s *Sim) InjectFailure(unit, hook string, afterToolCalls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if afterToolCalls < 1 {
		afterToolCalls = 1
	}
	s.failures = append(s.failures, &injection{unit: unit, hook: hook, after: afterToolCalls})
}

// InjectFailureAfterTool is InjectFailure counting only the calls of tool: the hook is killed right after its n-th
// call of that tool has been answered (the first relation-set, say, wherever it falls in the hook).
func (s *Sim) InjectFailureAfterTool(unit, hook, tool string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &injection{unit: unit, hook: hook, after: max(n, 1), tool: tool})
}

// InjectPodKill makes the unit's pod die abruptly (SIGKILL, node loss: no graceful shutdown, so
// no stop hook) while the next run of hook on unit runs, right after its afterToolCalls-th
// hook-tool call (as InjectFailure). The hook's writes are dropped and a new pod comes up, as
// after ChurnPod (fresh charm dir, new address, fresh containers). The uniter state in the
// controller still says the hook was running (operation/runhook.go Prepare: RunHook, Pending), so
// the new agent's deploy operation restores it instead of queueing upgrade-charm
// (operation/deploy.go Commit, interruptedHook) and the resolver treats it as a failed hook
// (uniter/resolver.go nextOpHookError): the unit shows "hook failed" until Resolve or auto-retry
// runs it again. Actions may run before it (actions/resolver.go NextOp: RunHook and Pending); start
// (reboot resolver) waits for it. Actions cannot be chosen: Juju fails an interrupted action.
func (s *Sim) InjectPodKill(unit, hook string, afterToolCalls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &injection{unit: unit, hook: hook, after: max(afterToolCalls, 1), pod: true})
}

// InjectCommitFailure fails the commit of the n-th hook or action from now, on unit (or "*": any unit) and named
// hook (or "*"), whose commit changes a secret (n < 1 counts as 1). As Juju's commitHookChangesForOneUnit, the commit
// applies the secret changes first, one API call at a time, and only then writes the relation settings, ports,
// state and leader settings in one transaction: the injected failure comes between the two, so the hook fails with
// its secret changes made and nothing else written ("state changing too fast; try again soon", the transaction
// runner's error). The unit is in error until resolved or retried, as after any failed hook. Each injection fires
// once; HookRecord.SecretChanges says which commits counted.
func (s *Sim) InjectCommitFailure(unit, hook string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitFaults = append(s.commitFaults, &commitFault{unit: unit, hook: hook, left: max(n, 1)})
}

type commitFault struct {
	unit, hook string
	left       int
}

// commitFaultLocked counts a commit with secret changes against the armed InjectCommitFailure injections and
// reports whether one fires for it.
func (s *Sim) commitFaultLocked(u *Unit, name string) bool {
	for i, f := range s.commitFaults {
		if (f.unit == "*" || f.unit == u.name) && (f.hook == "*" || f.hook == name) {
			if f.left--; f.left == 0 {
				s.commitFaults = slices.Delete(s.commitFaults, i, i+1)
				return true
			}
		}
	}
	return false
}

// UpdateStatus queues update-status on every live unit.
func (s *Sim) UpdateStatus() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.models {
		for _, a := range m.apps {
			for _, u := range a.units {
				u.updateStatus = true
			}
		}
	}
}

// Settle runs queued hooks, one at a time, visiting units round-robin in a fixed order, until no
// unit has anything to run. Units whose hook failed stay in error (and block) until Resolve; the
// returned error lists them.
func (s *Sim) Settle(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.settle(ctx)
}

// settle is Settle with s.runMu held.
func (s *Sim) settle(ctx context.Context) error {
	if s.opts.Concurrency > 1 {
		if err := s.runConcurrently(ctx); err != nil {
			return err
		}
		return s.unitsInError()
	}
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cannot settle: %w", err)
		}
		if round > 5000 {
			return fmt.Errorf("cannot settle: hooks still pending after %d rounds", round)
		}
		progress := false
		for _, u := range s.liveUnits() {
			s.pollContainers(u)
			s.mu.Lock()
			h := s.nextHook(u)
			s.mu.Unlock()
			if h == nil {
				continue
			}
			progress = true
			s.runHook(ctx, u, h)
		}
		if !progress && !s.pollNotices() {
			break
		}
	}
	return s.unitsInError()
}

// runConcurrently runs hooks until no unit has one to run, up to Options.Concurrency units at a time. A unit
// whose hook ends picks its next one at once (its resolver sees the state as it is then, so what changed
// meanwhile is one hook, not one per change); units are visited in a rotating order so that none starves.
func (s *Sim) runConcurrently(ctx context.Context) error {
	busy := map[*Unit]bool{}
	done := make(chan *Unit)
	next := 0
	wait := func() {
		u := <-done
		delete(busy, u)
	}
	for {
		if err := ctx.Err(); err != nil {
			for len(busy) > 0 {
				wait()
			}
			return fmt.Errorf("cannot settle: %w", err)
		}
		units := s.liveUnits()
		for i := range units {
			if len(busy) >= s.opts.Concurrency {
				break
			}
			u := units[(next+i)%len(units)]
			if busy[u] {
				continue
			}
			s.pollContainers(u)
			s.mu.Lock()
			h := s.nextHook(u)
			s.mu.Unlock()
			if h == nil {
				continue
			}
			busy[u] = true
			go func() {
				s.runHook(ctx, u, h)
				done <- u
			}()
		}
		if len(units) > 0 {
			next = (next + 1) % len(units)
		}
		if len(busy) > 0 {
			wait()
			continue
		}
		if !s.pollNotices() {
			return nil
		}
	}
}

// unitsInError fails a settle that left units in a hook error.
func (s *Sim) unitsInError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var failed []string
	for _, m := range s.models {
		for _, a := range m.apps {
			for _, u := range a.units {
				if u.failed != nil {
					failed = append(failed, fmt.Sprintf("%s (%s)", u.name, u.agent.Message))
				}
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cannot settle: units in error: %s", strings.Join(failed, ", "))
	}
	return nil
}

func (s *Sim) liveUnits() []*Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	var us []*Unit
	for _, m := range s.models {
		for _, a := range m.apps {
			us = append(us, a.units...)
		}
	}
	return us
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// allocateNet picks a second address octet no other live simulator on this host holds (an
// flock per octet under the temp dir), so that workloads of concurrently running test
// processes never bind the same 127.x.y.z:port.
func (s *Sim) allocateNet() error {
	dir := filepath.Join(os.TempDir(), "jujusim-net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot allocate unit addresses: %w", err)
	}
	b := make([]byte, 1)
	rand.Read(b)
	return s.allocateNetFrom(dir, int(b[0]))
}

// Unit addresses are in 127.<netFirst..netFirst+netRanges-1>.x.x.
const netFirst, netRanges = 10, 190

// allocateNetFrom tries the ranges in turn from the start-th.
func (s *Sim) allocateNetFrom(dir string, start int) error {
	const first, n = netFirst, netRanges
	for i := 0; i < n; i++ {
		octet := first + (start+i)%n
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.lock", octet)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return fmt.Errorf("cannot allocate unit addresses: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		// A simulator killed before its cleanup leaves its workloads running, listening in its range, and its lock
		// released: a new simulator there would have its requests answered by them.
		if listeningIn(octet) {
			f.Close()
			continue
		}
		s.netOctet, s.netLock = octet, f
		return nil
	}
	return fmt.Errorf("cannot allocate unit addresses: all %d ranges in use", n)
}

// listeningIn reports whether any process listens on a TCP address in 127.<octet>.0.0/16 (/proc/net/tcp: the
// local address is the IPv4 address in hex, in the host's byte order; state 0A is LISTEN).
func listeningIn(octet int) bool {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		addr, _, ok := strings.Cut(f[1], ":")
		b, err := hex.DecodeString(addr)
		if !ok || err != nil || len(b) != 4 {
			continue
		}
		// Little-endian on the machines this runs on: 127.55.1.1 is 0101377F.
		if b[3] == 127 && int(b[2]) == octet {
			return true
		}
	}
	return false
}

// nextAppIndex numbers applications across all models (the third address octet).
func (s *Sim) nextAppIndex() int {
	s.appSeq++
	return s.appSeq
}
