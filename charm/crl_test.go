package charm

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

// testCA is a CA's secret content and certificate.
func testCA(t *testing.T, cn string, now time.Time) (map[string]string, *x509.Certificate) {
	t.Helper()
	content, pub := testCASecret(t, cn, now)
	return content, pub.cert
}

func parseCRL(t *testing.T, s string) *x509.RevocationList {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not a PEM CRL: %q", s)
	}
	crl, err := x509.ParseRevocationList(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func serials(crl *x509.RevocationList) []string {
	var out []string
	for _, e := range crl.RevokedCertificateEntries {
		out = append(out, e.SerialNumber.Text(16))
	}
	return out
}

// TestMaintainCRLPerCA: during a rotation's overlap each trusted CA has its own CRL, signed by it and listing the
// serials revoked under it; both are re-signed once half of crl-validity has passed, and not before.
func TestMaintainCRLPerCA(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	oldContent, oldCert := testCA(t, "old", now)
	newContent, newCert := testCA(t, "new", now)
	newAuth, err := authorityFrom(newContent)
	if err != nil {
		t.Fatal(err)
	}
	r := &reconciler{
		o:   &Options{Now: func() time.Time { return now }},
		cfg: &Config{CRLValidity: 4 * 24 * time.Hour},
		peer: map[string]string{
			peerPreviousCA:      oldContent["certificate"],
			peerPreviousRevoked: mustJSON([]revocation{{Serial: "abc123", RevokedAt: now}}),
			peerRevoked:         mustJSON([]revocation{{Serial: "def456", RevokedAt: now}}),
		},
		prevContent: oldContent,
	}
	pub := &published{CA: newContent["certificate"], cert: newCert}
	auth := func() (*ca.Authority, error) { return newAuth, nil }

	check := func(step string, wantThis time.Time) (cur, prev *x509.RevocationList) {
		t.Helper()
		if err := r.maintainCRL(pub, auth); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		cur, prev = parseCRL(t, r.peer[peerCRL]), parseCRL(t, r.peer[peerPreviousCRL])
		for _, tt := range []struct {
			name   string
			crl    *x509.RevocationList
			issuer *x509.Certificate
			serial string
		}{
			{"current", cur, newCert, "def456"},
			{"previous", prev, oldCert, "abc123"},
		} {
			if err := tt.crl.CheckSignatureFrom(tt.issuer); err != nil {
				t.Errorf("%s: the %s CA's CRL is not signed by it: %v", step, tt.name, err)
			}
			if got := serials(tt.crl); len(got) != 1 || got[0] != tt.serial {
				t.Errorf("%s: the %s CA's CRL lists %v, want [%s]", step, tt.name, got, tt.serial)
			}
			if d := wantThis.Sub(tt.crl.ThisUpdate); d < 0 || d > 5*time.Minute {
				t.Errorf("%s: the %s CA's CRL this-update %v, signed at %v", step, tt.name, tt.crl.ThisUpdate, wantThis)
			}
		}
		return cur, prev
	}
	cur1, prev1 := check("first", now)
	now = now.Add(time.Hour) // well within the first half: nothing is re-signed
	cur2, prev2 := check("an hour later", now.Add(-time.Hour))
	if cur2.Number.Cmp(cur1.Number) != 0 || prev2.Number.Cmp(prev1.Number) != 0 {
		t.Errorf("re-signed before half of crl-validity passed: numbers %v %v then %v %v", cur1.Number, prev1.Number, cur2.Number, prev2.Number)
	}
	now = now.Add(2*24*time.Hour + time.Minute) // past half of the 4-day validity: both are re-signed
	cur3, prev3 := check("past half the validity", now)
	if cur3.Number.Cmp(cur2.Number) <= 0 || prev3.Number.Cmp(prev2.Number) <= 0 {
		t.Errorf("not re-signed past half of crl-validity: numbers %v %v then %v %v", cur2.Number, prev2.Number, cur3.Number, prev3.Number)
	}
	if !prev3.NextUpdate.After(prev1.NextUpdate) || prev3.NextUpdate.Sub(now) != 4*24*time.Hour {
		t.Errorf("previous CA's CRL next update %v at %v", prev3.NextUpdate, now)
	}

	// A key that is not the previous CA's never signs its CRL.
	r.prevContent = newContent
	r.peer[peerPreviousRevoked] = mustJSON([]revocation{{Serial: "abc123", RevokedAt: now}, {Serial: "1", RevokedAt: now}})
	if err := r.maintainCRL(pub, auth); err == nil || !strings.HasPrefix(err.Error(), "cannot ") {
		t.Errorf("signing the previous CA's CRL with another key: %v", err)
	}
}

// TestCRLFiles: the agent gets the current CA's CRL at crl.der and crl.pem and under its id, and the previous
// CA's under its id only.
func TestCRLFiles(t *testing.T) {
	now := time.Now()
	oldContent, oldCert := testCA(t, "old", now)
	newContent, newCert := testCA(t, "new", now)
	crlPEM := func(content map[string]string) string {
		a, err := authorityFrom(content)
		if err != nil {
			t.Fatal(err)
		}
		der, err := a.NewCRL(nil, 1, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		return ca.EncodeCRL(der)
	}
	oldCRL, newCRL := crlPEM(oldContent), crlPEM(newContent)
	r := &reconciler{peer: map[string]string{peerCRL: newCRL, peerPreviousCA: oldContent["certificate"], peerPreviousCRL: oldCRL}}
	files := map[string]string{}
	r.crlFiles(&published{CA: newContent["certificate"], cert: newCert}, files)
	want := map[string]string{
		"crl.pem": newCRL, "crl-" + crlKeyID(newCert) + ".pem": newCRL, "crl-" + crlKeyID(oldCert) + ".pem": oldCRL,
	}
	for name, crl := range want {
		if files[name] != crl+"\n" {
			t.Errorf("%s: %q, want the CRL", name, files[name])
		}
		der := strings.TrimSuffix(name, ".pem") + ".der"
		if b, _ := pem.Decode([]byte(crl)); files[der] != string(b.Bytes) {
			t.Errorf("%s is not the DER of %s", der, name)
		}
	}
	if len(files) != 2*len(want) {
		t.Errorf("files %v", len(files))
	}
	if crlKeyID(oldCert) == crlKeyID(newCert) || crlKeyID(newCert) != strings.ToLower(crlKeyID(newCert)) {
		t.Errorf("CA ids %s %s", crlKeyID(oldCert), crlKeyID(newCert))
	}
}
