package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/artifacts"
)

// cosHops are the hops of the COS-like deployment (tests/scenarios/cos/), by the handshake labels of the scenarios:
// the internal ones inside model cos (the proxy to prom and am, prom's charm to its workload), the external ones
// from the agent in model agents through the proxy.
var cosHops = map[string][]string{
	"internal": {"prom-0:8443 (backend)", "am-0:8443 (backend)", "prom-0:8443 (its workload)"},
	"external": {"proxy /cos-prom-0 (external)", "proxy /cos-am-0 (external)"},
}

// cosRefusals are, per side and by whether its TLS is on, the handshake that must be refused: plain HTTP to a TLS
// hop, or TLS to a plain one.
var cosRefusals = map[string]map[bool]string{
	"internal": {true: "prom-0:8443 in plain HTTP (TLS on: refused)", false: "prom-0:8443 TLS (TLS off: none)"},
	"external": {true: "proxy in plain HTTP (TLS on: refused)", false: "proxy TLS (TLS off: none)"},
}

// TestCOSTLSModes runs the four TLS modes of COS (tests/scenarios/cos-tls-*.yaml, SPEC §1) at the same time, each on
// its own simulated models, and checks from their final tables that in each mode exactly the right hops are TLS:
// every hop succeeds, over a verified TLS handshake where that side's TLS is on and in plain HTTP where it is off;
// a refusal is recorded on each side (plain HTTP refused by a TLS hop, or no TLS on a plain one); and every
// certificate chains to the CA the mode says (the local CA cos-ca inside, the external ext-ca for the proxy).
func TestCOSTLSModes(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root")
	}
	if testing.Short() {
		t.Skip("deploys three models per mode")
	}
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	buildDemo(t, root)
	for _, tt := range []struct {
		mode               string
		internal, external bool
		roots              map[string]string
	}{
		{mode: "full", internal: true, external: true,
			roots: map[string]string{"cos-ca": "cos-ca", "prom/0": "cos-ca", "am/0": "cos-ca", "ext-ca": "ext-ca", "proxy": "ext-ca"}},
		{mode: "internal", internal: true,
			roots: map[string]string{"cos-ca": "cos-ca", "prom/0": "cos-ca", "am/0": "cos-ca"}},
		{mode: "external", external: true,
			roots: map[string]string{"ext-ca": "ext-ca", "proxy": "ext-ca"}},
		{mode: "off", roots: map[string]string{}},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			res := runScenarioFile(t, root, "cos-tls-"+tt.mode+".yaml")
			t.Logf("mode %s ran in %s", tt.mode, time.Since(start).Round(time.Second))
			checkRoots(t, res, tt.roots)
			on := map[string]bool{"internal": tt.internal, "external": tt.external}
			seen := map[string]bool{}
			refused := map[string]int{}
			for _, h := range res.Handshakes {
				if !h.OK {
					t.Errorf("handshake %s to %s: %s", h.From, h.To, h.Result)
				}
				for side, hops := range cosHops {
					for _, hop := range hops {
						if !strings.HasPrefix(h.To, hop) {
							continue
						}
						tls := strings.HasSuffix(h.To, ", HTTPS") || strings.HasSuffix(h.To, ", openssl s_client")
						plain := strings.HasSuffix(h.To, ", plain HTTP")
						if tls != on[side] || plain == on[side] {
							t.Errorf("%s hop %s to %s went over %q, want TLS %v", side, h.From, h.To, h.To[len(hop):], on[side])
						}
						seen[hop] = true
					}
				}
				for side, labels := range cosRefusals {
					for tlsOn, label := range labels {
						if h.To != label {
							continue
						}
						if tlsOn != on[side] || !h.ExpectFail {
							t.Errorf("%s side (TLS %v): unexpected handshake %s to %s", side, on[side], h.From, h.To)
						}
						refused[side]++
					}
				}
			}
			for side, hops := range cosHops {
				for _, hop := range hops {
					if !seen[hop] {
						t.Errorf("no %s handshake to %s", side, hop)
					}
				}
			}
			for side := range cosRefusals {
				if refused[side] == 0 {
					t.Errorf("%s side: no refused handshake %q", side, cosRefusals[side][on[side]])
				}
			}
		})
	}
}
