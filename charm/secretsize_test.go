package charm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

// checkSecretFits fails when content would be refused by Juju, however it measures, or when the --file the hook
// tool writes is over the limit Juju checks before parsing it.
func checkSecretFits(t *testing.T, what string, content map[string]string) {
	t.Helper()
	raw, enc := 0, 0
	for k, v := range content {
		e := base64.StdEncoding.EncodedLen(len(v))
		if len(v) > maxSecretValue || e > maxSecretValue {
			t.Errorf("%s: value %q is %d bytes (%d base64), over Juju's %d", what, k, len(v), e, maxSecretValue)
		}
		raw, enc = raw+len(v), enc+e
	}
	file, _ := json.Marshal(content) // hooktool's --file is this JSON
	if raw > maxSecretContent || enc > maxSecretContent || len(file) > maxSecretContent {
		t.Errorf("%s: %d bytes (%d base64, %d as the --file), over Juju's %d", what, raw, enc, len(file), maxSecretContent)
	}
	t.Logf("%s: %d bytes, %d base64, largest limit use %d%%", what, raw, enc, enc*100/maxSecretContent)
}

// TestCASecretFitsJujuLimits: the CA secret at its largest, during a rotation (current and next CA), with an
// rsa-4096 key and every subject field at its longest, fits Juju 3.6's secret limits; so does the previous CA's.
func TestCASecretFitsJujuLimits(t *testing.T) {
	long := strings.Repeat("x", 64)
	raw := defaults()
	raw["ca-key-algorithm"] = "rsa-4096"
	for _, k := range []string{"ca-common-name", "ca-organization", "ca-organizational-unit", "ca-locality-name", "ca-state-or-province-name"} {
		raw[k] = long
	}
	raw["ca-email-address"] = long + "@" + strings.Repeat("e", 60) + ".example.com"
	raw["ca-country-name"] = "GB"
	cfg, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	newCA := func() (string, string) {
		key, err := ca.GenerateKey(cfg.Algorithm)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ca.NewRoot(key, cfg.Subject, cfg.RootValidity, time.Now(), 1)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := ca.EncodePrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return keyPEM, ca.EncodeCertificate(cert)
	}
	k1, c1 := newCA()
	k2, c2 := newCA()
	checkSecretFits(t, "CA secret during a rotation", map[string]string{
		"private-key": k1, "certificate": c1, "params": cfg.CAParams(),
		"next-private-key": k2, "next-certificate": c2, "next-params": cfg.CAParams(),
	})
	checkSecretFits(t, "previous CA secret", map[string]string{"private-key": k1, "certificate": c1})
	// Intermediate mode moving from a root: the root, the delivered intermediate as next, and the intermediate's key.
	k3, _ := newCA()
	checkSecretFits(t, "CA secret of a root becoming an intermediate", map[string]string{
		"private-key": k1, "certificate": c1, "params": cfg.CAParams(),
		"next-private-key": k3, "next-certificate": c2, "next-params": cfg.CAParams(), secretIssuerKey: k3,
	})
	// Moving to an offline root's intermediate (set-ca-certificate, with its own check: secretContentProblem): the
	// offline key and certificate also as next, and a chain of an intermediate and the root, all rsa-4096.
	_, c4 := newCA()
	offline := map[string]string{
		"private-key": k1, "certificate": c1, "params": cfg.CAParams(),
		"next-private-key": k3, "next-certificate": c2, "next-params": importParamsPrefix + strings.Repeat("f", 64),
		secretOfflineKey: k3, secretOfflineCert: c2,
	}
	setOfflineChain(offline, []string{c4, c1})
	checkSecretFits(t, "CA secret moving to an offline root's intermediate", offline)
	if p := secretContentProblem(offline); p != "" {
		t.Errorf("the charm refuses what fits: %s", p)
	}
}

// TestSecretContentProblem: the charm's own check of Juju 3.6's limits before 3.6.9 refuses a value over 8 KiB by
// either measure and a secret over 64 KiB, and passes what fits.
func TestSecretContentProblem(t *testing.T) {
	kib := func(n int) string { return strings.Repeat("a", n<<10) }
	many := map[string]string{}
	for i := range 11 {
		many[fmt.Sprint("v", i)] = strings.Repeat("b", 6000) // 8,000 base64 each: 88,000 in all
	}
	for _, tc := range []struct {
		name    string
		content map[string]string
		want    string
	}{
		{"fits", map[string]string{"private-key": kib(3), "certificate": kib(2)}, ""},
		{"value at the limit base64", map[string]string{"offline-chain": strings.Repeat("c", 6144)}, ""},
		{"value over base64", map[string]string{"offline-chain": strings.Repeat("c", 6145)}, "offline-chain would be 8196 bytes"},
		{"value over raw", map[string]string{"offline-chain": kib(9)}, "offline-chain would be"},
		{"whole over", many, "the CA secret would hold 88000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := secretContentProblem(tc.content)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("secretContentProblem = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOfflineChainParts: the offline root's chain is kept a certificate a value and read back in order; a chain an
// older charm kept in one value is read as it is and replaced by parts at the next set; a shorter chain leaves no
// part of a longer one behind.
func TestOfflineChainParts(t *testing.T) {
	content := map[string]string{secretOfflineChain: "A\nB", "private-key": "k"}
	if got := offlineChain(content); got != "A\nB" {
		t.Fatalf("an older charm's chain read as %q", got)
	}
	setOfflineChain(content, []string{"A", "B", "C"})
	if _, ok := content[secretOfflineChain]; ok || offlineChain(content) != "A\nB\nC" || content["offline-chain-2"] != "C" {
		t.Fatalf("after a set of three: %v", content)
	}
	setOfflineChain(content, []string{"D"})
	if offlineChain(content) != "D" || content["offline-chain-1"] != "" || len(content) != 2 {
		t.Fatalf("after a set of one: %v", content)
	}
	for k, want := range map[string]bool{"offline-key": true, "offline-certificate": true, "offline-chain": true, "offline-chain-12": true,
		"offline-chain-": false, "offline-chainx": false, "private-key": false, "next-certificate": false} {
		if isOfflineKey(k) != want {
			t.Errorf("isOfflineKey(%q) = %v", k, !want)
		}
	}
}
