package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// TestProviderBadInput is issue 4's table of bad requirer input. Each row is written by the units of "bad" while
// "good" asks for a new certificate at the same time: the row's log line (with relation and unit) and status
// appear, nothing is signed for it (or the policy refusal is in request_errors), the good requirer is served in
// the same settle, and no hook of the authority fails.
func TestProviderBadInput(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, map[string]any{
		"allow-ca-requests": false,
		"allowed-domains":   "example.com",
		"allow-ip-sans":     false,
		"allow-wildcards":   false,
	})
	deployRequirer(t, m, "good", 1)
	deployRequirer(t, m, "bad", 2)
	goodRel := integrate(t, m, "good:certificates", "tls-authority:certificates")
	badRel := integrate(t, m, "bad:certificates", "tls-authority:certificates")
	settle(t, s)
	caPEM := caOf(t, authority)
	caFile := writeTemp(t, "ca.pem", caPEM)
	good, bad0, bad1 := m.Unit("good/0"), m.Unit("bad/0"), m.Unit("bad/1")
	badID := fmt.Sprintf("certificates:%d", badRel.ID())

	list := func(csr string, isCA bool) string {
		return tlscertificates.WriteRequests([]tlscertificates.CSRRequest{req(csr, isCA)})
	}
	okCSR := func(cn string, sans ...string) string { return newCSR(t, ecKey(t), cn, sans...) }

	// A CSR whose signature does not verify: one bit of the signature flipped.
	sigBlock, _ := pem.Decode([]byte(okCSR("badsig.example.com", "badsig.example.com")))
	sigBlock.Bytes[len(sigBlock.Bytes)-1] ^= 1
	badSig := strings.TrimSpace(string(pem.EncodeToMemory(sigBlock)))
	// 5,000 SANs (short IP SANs, so the CSR stays under the size limit and the SAN limit is what refuses it).
	var ips []string
	for i := range 5000 {
		ips = append(ips, fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256))
	}
	manySANs := newCSR(t, ecKey(t), "many.example.com", ips...)
	// A 1 MiB value: a PEM-framed CSR of 1 MiB.
	junk := make([]byte, 768<<10)
	if _, err := rand.Read(junk); err != nil {
		t.Fatal(err)
	}
	huge := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: junk})))
	hugeValue := list(huge, false)
	if len(hugeValue) < 1<<20 {
		t.Fatalf("huge value is %d bytes", len(hugeValue))
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	dup := okCSR("dup.example.com", "dup.example.com")
	// Keys Go cannot sign a CSR with, made by OpenSSL (ca/testdata/csr/gen.sh).
	fixture := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "ca", "testdata", "csr", name+".csr"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	// A URI SAN x509 will not encode or parse (a newline in it), as raw GeneralNames.
	uriSAN, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte("spiffe://example.com/a\nb")}})
	if err != nil {
		t.Fatal(err)
	}
	uriDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "uri.example.com"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: uriSAN}}}, ecKey(t))
	if err != nil {
		t.Fatal(err)
	}
	uriNL := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: uriDER})))
	refused := func(code int) string { return fmt.Sprintf(`refused certificate request: \w+ \(%d\)`, code) }

	rows := []struct {
		name       string
		bad0, bad1 string // certificate_signing_requests values of bad/0 and bad/1 ("" = none)
		log        string // regexp of the authority's juju-log line; it must also name the relation and the unit
		logUnit    string
		certs      int    // certificates on the bad relation afterwards
		errCode    int    // the request_errors code, 0 for none
		errMsg     string // what the request_errors message the requirer reads must contain
	}{
		{name: "not JSON", bad0: "this is not json", log: `ignoring certificate requests`, logUnit: "bad/0"},
		{name: "JSON object, not a list", bad0: `{"certificate_signing_request": "x", "ca": false}`, log: `ignoring certificate requests`, logUnit: "bad/0"},
		{name: "wrong JSON types", bad0: `[{"certificate_signing_request": 5, "ca": "yes"}]`, log: `certificate_signing_requests\[0\] skipped`, logUnit: "bad/0"},
		{name: "ca not a bool", bad0: `[{"certificate_signing_request": ` + jsonQuote(okCSR("cabool.example.com")) + `, "ca": "yes"}]`, log: `certificate_signing_requests\[0\] skipped`, logUnit: "bad/0"},
		{name: "PEM that is not a CSR", bad0: list(caPEM, false), log: `skipped: .*CERTIFICATE`, logUnit: "bad/0"},
		{name: "bad signature", bad0: list(badSig, false), log: `signature`, logUnit: "bad/0"},
		// Over the authority's CSR size cap (16 KiB) before its SAN cap: refused, the requirer reads why.
		{name: "5000 SANs", bad0: list(manySANs, false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: "more than 16384"},
		{name: "1 MiB value", bad0: hugeValue, log: `more than 65536`, logUnit: "bad/0"},
		{name: "CA request refused", bad0: list(okCSR("ca.example.com"), true), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: "CA certificate requests are not allowed"},
		{name: "domain not allowed", bad0: list(okCSR("host.example.org", "host.example.org"), false), errCode: 102, log: refused(102), logUnit: "bad/0", errMsg: `name "host.example.org" is not in the allowed domains`},
		{name: "IP SAN refused", bad0: list(okCSR("ip.example.com", "ip.example.com", "192.0.2.1"), false), errCode: 101, log: refused(101), logUnit: "bad/0", errMsg: "IP addresses are not allowed"},
		{name: "wildcard refused", bad0: list(okCSR("wild.example.com", "*.wild.example.com"), false), errCode: 103, log: refused(103), logUnit: "bad/0", errMsg: `wildcard name "*.wild.example.com" is not allowed`},
		// Every key the authority does not sign for is answered, with its type and size, even when Go cannot
		// verify the CSR's signature (RSA-512, DSA, Ed448) or parse it at all (secp256k1).
		{name: "RSA-1024 key", bad0: list(newCSR(t, weak, "weak.example.com", "weak.example.com"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: "RSA key of 1024 bits is too weak (minimum 2048)"},
		{name: "RSA-512 key", bad0: list(fixture("rsa512"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: "RSA key of 512 bits is too weak (minimum 2048)"},
		{name: "DSA key", bad0: list(fixture("dsa2048"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: "DSA key of 2048 bits is not allowed"},
		{name: "Ed448 key", bad0: list(fixture("ed448"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: "Ed448 key (448 bits) is not allowed"},
		{name: "secp256k1 key", bad0: list(fixture("secp256k1"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: "ECDSA key on curve secp256k1 (256 bits) is not allowed"},
		// Control characters in names (the NUL-prefix attack); each name is otherwise within example.com.
		{name: "NUL in CN", bad0: list(okCSR("bank.example.com\x00.evil.org"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: `common name "bank.example.com\x00.evil.org" contains a control character`},
		{name: "newline in CN", bad0: list(okCSR("nl.example.com\nx.example.com"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: `common name "nl.example.com\nx.example.com" contains a control character`},
		{name: "NUL in DNS SAN", bad0: list(okCSR("nul.example.com", "evil\x00.example.com"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: `DNS SAN "evil\x00.example.com" contains a control character`},
		{name: "newline in DNS SAN", bad0: list(okCSR("nl.example.com", "a.example.com\nb.example.com"), false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: `DNS SAN "a.example.com\nb.example.com" contains a control character`},
		{name: "newline in URI SAN", bad0: list(uriNL, false), errCode: 999, log: refused(999), logUnit: "bad/0", errMsg: `URI SAN "spiffe://example.com/a\nb" contains a control character`},
		{name: "same CSR in two units", bad0: list(dup, false), bad1: list(dup, false), log: `same CSR as`, logUnit: "bad/", certs: 1},
	}
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			leader := authority.Leader()
			before := len(leader.Hooks())
			goodCSR := okCSR(fmt.Sprintf("good%d.example.com", i), fmt.Sprintf("good%d.example.com", i))
			publishCSRs(t, good, false, req(goodCSR, false))
			publish(t, bad0, "", false, map[string]string{tlscertificates.KeyCSRs: row.bad0})
			if row.bad1 != "" {
				publish(t, bad1, "", false, map[string]string{tlscertificates.KeyCSRs: row.bad1})
			}
			settle(t, s)
			defer func() {
				// Clear the row's input; the bad relation must come back empty.
				publish(t, bad0, "", false, map[string]string{tlscertificates.KeyCSRs: ""})
				publish(t, bad1, "", false, map[string]string{tlscertificates.KeyCSRs: ""})
				settle(t, s)
				certs, errs, _ := issuedBag(t, badRel, authority.Name())
				if len(certs) != 0 || len(errs) != 0 {
					t.Fatalf("after clearing: %d certificates, %d request errors on the bad relation", len(certs), len(errs))
				}
			}()

			// The good requirer is served in the same settle.
			gc, gerrs, _ := issuedBag(t, goodRel, authority.Name())
			if len(gerrs) != 0 || len(gc) != 1 {
				t.Fatalf("good relation: %d certificates, %d errors", len(gc), len(gerrs))
			}
			checkIssued(t, gc, goodCSR, false, caPEM, caFile)

			var logs []string
			for _, h := range leader.Hooks()[before:] {
				logs = append(logs, h.Logs...)
			}
			if row.log != "" {
				re := regexp.MustCompile(row.log)
				var hits []string
				for _, l := range logs {
					if re.MatchString(l) {
						hits = append(hits, l)
					}
				}
				if len(hits) == 0 {
					t.Fatalf("no log line matching %q; logs:\n%s", row.log, strings.Join(logs, "\n"))
				}
				for _, l := range hits {
					if !strings.Contains(l, badID) || !strings.Contains(l, row.logUnit) {
						t.Errorf("log line does not name relation %s and unit %s: %s", badID, row.logUnit, l)
					}
					// Once: in the relation's own hook juju-log's prefix names it, and the charm must not again.
					if n := len(regexp.MustCompile(regexp.QuoteMeta(badID)+`\b`).FindAllString(l, -1)); n != 1 {
						t.Errorf("log line names relation %s %d times: %s", badID, n, l)
					}
					if len(l) > 4096 {
						t.Errorf("log line of %d bytes (echoes the input?)", len(l))
					}
				}
			}
			// Logged once: a later hook with nothing new does not log the same input again.
			if row.log != "" {
				n := len(leader.Hooks())
				s.UpdateStatus()
				settle(t, s)
				re := regexp.MustCompile(row.log)
				for _, h := range leader.Hooks()[n:] {
					for _, l := range h.Logs {
						if re.MatchString(l) {
							t.Errorf("%s logs the same input again: %s", h.Name, l)
						}
					}
				}
			}
			for _, l := range logs {
				if strings.Contains(l, "PRIVATE KEY") {
					t.Fatalf("a log line holds a private key")
				}
			}

			certs, errs, bag := issuedBag(t, badRel, authority.Name())
			if len(certs) != row.certs {
				t.Fatalf("bad relation: %d certificates, want %d", len(certs), row.certs)
			}
			for _, c := range certs {
				checkIssued(t, certs, c.CSR, false, caPEM, caFile)
			}
			if row.errCode == 0 {
				if len(errs) != 0 {
					t.Fatalf("request_errors %+v, want none", errs)
				}
			} else {
				if len(errs) != 1 || errs[0].Error.Code != row.errCode {
					t.Fatalf("request_errors = %+v, want one with code %d", errs, row.errCode)
				}
				if want, _, _ := tlscertificates.ReadRequests(map[string]string{tlscertificates.KeyCSRs: row.bad0}); len(want) != 1 || errs[0].CSR != want[0].CSR {
					t.Fatalf("request_errors csr is not the refused CSR as sent")
				}
				if errs[0].Error.Name == "" || errs[0].Error.Message == "" {
					t.Fatalf("request_errors entry without name or message: %+v", errs[0])
				}
				if !strings.Contains(errs[0].Error.Message, row.errMsg) {
					t.Fatalf("request_errors message %q, want it to contain %q", errs[0].Error.Message, row.errMsg)
				}
				if !strings.Contains(bag[tlscertificates.KeyRequestErrors], `"csr": `) {
					t.Fatalf("request_errors not keyed csr: %.200s", bag[tlscertificates.KeyRequestErrors])
				}
			}
			if n := issuedCount(t, leader); n != 1+row.certs {
				t.Fatalf("status counts %d issued, want %d", n, 1+row.certs)
			}
			noFailedHooks(t, authority)
		})
	}
	// Capabilities say what the policy refuses.
	_, _, caps, _ := tlscertificates.ReadProviderBag(goodRel.AppData(authority.Name()))
	if caps == nil || caps.SupportsIPSANs == nil || *caps.SupportsIPSANs || caps.SupportsWildcardDNS == nil || *caps.SupportsWildcardDNS ||
		caps.SupportsCACertificates == nil || *caps.SupportsCACertificates || strings.Join(caps.AllowedDomains, ",") != "example.com" {
		t.Fatalf("capabilities = %+v", caps)
	}
}

func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
