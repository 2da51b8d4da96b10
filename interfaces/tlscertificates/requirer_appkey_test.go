package tlscertificates_test

import (
	"crypto"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	tls "github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// TestRequirerAppKeyAndRenewBefore: with AppKey the app request is made with the charm's own key (an intermediate
// CA's, kept in its CA secret) and no key secret is read or created; with RenewBefore the certificate is renewed once
// less than that is left, but not before half its life, with a new CSR for the same key.
func TestRequirerAppKeyAndRenewBefore(t *testing.T) {
	for _, tc := range []struct {
		name        string
		validity    time.Duration
		renewBefore time.Duration
		halfLife    bool // renewed at half the life, not RenewBefore before the end
	}{
		{"renew before", 10 * time.Hour, 2 * time.Hour, false},
		{"capped at half the life", 10 * time.Hour, 8 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			m := newFakeModel()
			prov := newFakeProvider(t, clk.now)
			prov.validity = tc.validity
			key, err := ca.GenerateKey(ca.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			reqs := []tls.CertificateRequest{{CommonName: "model-a-ca", IsCA: true}}
			sync := func() *tls.Assigned {
				t.Helper()
				hc, fr := m.hook("myapp/0")
				got, err := tls.NewRequirer(hc, &tls.RequirerOptions{Endpoint: "certificates", AppRequests: reqs, AppKey: key,
					RenewBefore: tc.renewBefore, Now: clk.now}).Sync()
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range fr.calls {
					if c == "secret-get" || c == "secret-add" {
						t.Fatalf("with AppKey the requirer called %s", c)
					}
				}
				return got
			}
			first := sync()
			if !first.Wrote || len(m.secrets) != 0 {
				t.Fatalf("first sync: wrote %v, %d secrets", first.Wrote, len(m.secrets))
			}
			if csr, err := ca.ParseCSR(first.App[0].CSR); err != nil || !csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Fatalf("the CSR is not for AppKey: %v", err)
			}
			prov.run(m)
			got := sync()
			if !got.App[0].Ready() {
				t.Fatalf("not assigned: %+v", got.App[0])
			}
			a := got.App[0]
			want := a.NotAfter.Add(-tc.renewBefore)
			if tc.halfLife {
				want = a.NotBefore.Add(a.NotAfter.Sub(a.NotBefore) / 2)
			}
			if !a.RenewAt.Equal(want) {
				t.Fatalf("RenewAt %s, want %s", got.App[0].RenewAt, want)
			}
			clk.t = got.App[0].RenewAt.Add(-time.Minute)
			if again := sync(); again.Wrote {
				t.Fatal("renewed early")
			}
			clk.t = got.App[0].RenewAt.Add(time.Minute)
			renew := sync()
			if !renew.Wrote || renew.App[0].CSR == got.App[0].CSR || !renew.App[0].Renewing {
				t.Fatalf("no renewal: %+v", renew.App[0])
			}
			if csr, _ := ca.ParseCSR(renew.App[0].CSR); !csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Fatal("the renewal is for another key")
			}
		})
	}
}
