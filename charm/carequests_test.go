package charm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// TestCARequestRefusal: under the default config a CA request is refused with code 999, and the message a
// requirer reads names allow-ca-requests and the application to set it on; a child authority turns that into a
// short Waiting status with the command. Refusals of other kinds keep their message.
func TestCARequestRefusal(t *testing.T) {
	cfg, err := ParseConfig(map[string]any{"ca-common-name": "pki-root"}) // every other option unset: its default
	if err != nil {
		t.Fatal(err)
	}
	csrOf := func(key any, cn string) string {
		t.Helper()
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificateRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		return ca.EncodeCertificateRequest(c)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		csr     string
		isCA    bool
		allow   bool
		want    string // in the refusal's message; "" for no refusal
		command bool   // the message carries the command
		status  string // the child's status for it
	}{
		{name: "CA request, default", csr: csrOf(ec, "model-a-ca"), isCA: true, want: "allow-ca-requests is false", command: true,
			status: "waiting for issuer: central refused the CA request (juju config pki allow-ca-requests=true)"},
		{name: "CA request, allowed", csr: csrOf(ec, "model-a-ca"), isCA: true, allow: true},
		{name: "leaf, default", csr: csrOf(ec, "a.example.com")},
		{name: "weak key asking for a CA", csr: csrOf(weak, "model-a-ca"), isCA: true, want: "RSA key of 1024 bits",
			status: "waiting for issuer: central refused the CA request: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := cfg.Policy
			p.AllowCARequests = tt.allow || p.AllowCARequests
			_, refusal, err := p.Vet(tt.csr, tt.isCA)
			if err != nil {
				t.Fatal(err)
			}
			refusal = caRequestRefusal(refusal, "pki")
			if tt.want == "" {
				if refusal != nil {
					t.Fatalf("refused: %v", refusal)
				}
				return
			}
			if refusal == nil || refusal.Code != ca.CodeOther || !strings.Contains(refusal.Message, tt.want) {
				t.Fatalf("refusal = %+v, want code 999 with %q", refusal, tt.want)
			}
			if got := strings.Contains(refusal.Message, "juju config pki allow-ca-requests=true"); got != tt.command {
				t.Errorf("message %q: carries the command = %v, want %v", refusal.Message, got, tt.command)
			}
			status := issuerRefusedStatus("central", &tlscertificates.ErrorDetail{Code: refusal.Code, Name: refusal.Name, Message: refusal.Message})
			if !strings.HasPrefix(status, tt.status) || len(status) > 160 {
				t.Errorf("status %q, want %q (and short)", status, tt.status)
			}
		})
	}
}

// TestIssuerRefusedStatus: what a child shows for what a parent may write: another tls-authority before the
// command was added names the option only, Vault writes its own text, a hostile parent a long multi-line one.
func TestIssuerRefusedStatus(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"CA certificate requests are not allowed (allow-ca-requests is false)",
			"waiting for issuer: central refused the CA request (juju config central allow-ca-requests=true)"},
		{"x; juju config pki-root allow-ca-requests=true",
			"waiting for issuer: central refused the CA request (juju config pki-root allow-ca-requests=true)"},
		{"role does not allow CA certificates", "waiting for issuer: central refused the CA request: role does not allow CA certificates"},
		{"a\nb " + strings.Repeat("x", 500), "waiting for issuer: central refused the CA request: a b " + strings.Repeat("x", 96) + "..."},
	}
	for _, tt := range tests {
		if got := issuerRefusedStatus("central", &tlscertificates.ErrorDetail{Code: 999, Message: tt.msg}); got != tt.want {
			t.Errorf("%.40q: status %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// TestPathLenRefusal: a CA request is refused when this authority's own CA has no room below it for a CA of
// ca-request-max-path-length (an intermediate its parent issued with path length 0), and signed when it has.
func TestPathLenRefusal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		own     *x509.Certificate
		maxPath int
		refused bool
	}{
		{"no CA yet", nil, 0, false},
		{"unlimited root", &x509.Certificate{BasicConstraintsValid: true, IsCA: true, MaxPathLen: -1}, 0, false},
		{"root of path length 1, requirer CA 0", &x509.Certificate{BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1}, 0, false},
		{"root of path length 1, requirer CA 1", &x509.Certificate{BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1}, 1, true},
		{"intermediate of path length 0", &x509.Certificate{BasicConstraintsValid: true, IsCA: true, MaxPathLen: 0, MaxPathLenZero: true}, 0, true},
		{"intermediate of path length 2, requirer CA 1", &x509.Certificate{BasicConstraintsValid: true, IsCA: true, MaxPathLen: 2}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pathLenRefusal(tc.own, ca.Policy{AllowCARequests: true, CAMaxPathLen: tc.maxPath})
			if (r != nil) != tc.refused {
				t.Fatalf("refused %v, want %v (%v)", r != nil, tc.refused, r)
			}
			if r != nil && (r.Code != ca.CodeOther || !strings.Contains(r.Message, "ca-request-max-path-length")) {
				t.Fatalf("the refusal does not say why: %+v", r)
			}
		})
	}
}
