package charm

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

// Juju 3.6's secret content limits before the raise to 1 MB (juju/juju#20287; core/secrets/createsecret.go):
// 8 KiB a value and 64 KiB a secret. Releases measure the value as given or base64-encoded; both are checked.
const (
	jujuMaxSecretValue   = 8 * 1024
	jujuMaxSecretContent = 64 * 1024
)

// checkSecretFits fails when content would be refused by Juju, however it measures, or when the --file the hook
// tool writes is over the limit Juju checks before parsing it.
func checkSecretFits(t *testing.T, what string, content map[string]string) {
	t.Helper()
	raw, enc := 0, 0
	for k, v := range content {
		e := base64.StdEncoding.EncodedLen(len(v))
		if len(v) > jujuMaxSecretValue || e > jujuMaxSecretValue {
			t.Errorf("%s: value %q is %d bytes (%d base64), over Juju's %d", what, k, len(v), e, jujuMaxSecretValue)
		}
		raw, enc = raw+len(v), enc+e
	}
	file, _ := json.Marshal(content) // hooktool's --file is this JSON
	if raw > jujuMaxSecretContent || enc > jujuMaxSecretContent || len(file) > jujuMaxSecretContent {
		t.Errorf("%s: %d bytes (%d base64, %d as the --file), over Juju's %d", what, raw, enc, len(file), jujuMaxSecretContent)
	}
	t.Logf("%s: %d bytes, %d base64, largest limit use %d%%", what, raw, enc, enc*100/jujuMaxSecretContent)
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
}
