package scenario

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// summary is what the run recorded for its final tables.
type summary struct {
	certs      []recordedCert
	handshakes []handshake
}

// recordedCert is a certificate a `certificate` step recorded, with the rest of its chain.
type recordedCert struct {
	holder, mode string
	cert         *x509.Certificate
	pem          string
	chain        []*x509.Certificate // the chain the action returned, without the certificate itself
}

// handshake is one TLS connection the scenario made and how it went.
type handshake struct {
	from, to, trusting, result string
	ok, expectFail             bool
}

func (r *runner) certificate(c *CertStep) error {
	name := c.Action
	if name == "" {
		name = "get-certificate"
	}
	u, err := r.unit(c.Model, c.Unit)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out, "--- %s\n", short(fmt.Sprintf("certificate: action %s on %s", name, c.Unit)))
	res, err := u.RunActionContext(r.ctx, name, c.Params)
	if res == nil {
		return err
	}
	holder := c.Holder
	if holder == "" {
		holder = c.Unit
	}
	if res.Status != "completed" {
		r.check(false, "certificate of %s: %s %s: %s", holder, name, res.Status, res.Message)
		return nil
	}
	certPEM := lookup(res.Results, "certificate")
	chainPEM := lookup(res.Results, "chain")
	if certPEM == "" {
		certPEM, chainPEM = lookup(res.Results, "ca-certificate"), lookup(res.Results, "ca-chain")
	}
	certs := parsePEMs(certPEM)
	if len(certs) == 0 {
		r.check(false, "certificate of %s: %s returned no certificate", holder, name)
		return nil
	}
	rc := recordedCert{holder: holder, mode: c.Mode, cert: certs[0], pem: certPEM}
	for _, x := range parsePEMs(chainPEM) {
		if !x.Equal(rc.cert) {
			rc.chain = append(rc.chain, x)
		}
	}
	r.sum.certs = append(r.sum.certs, rc)
	fmt.Fprintf(r.out, "--- certificate of %s (%s): %s, issued by %q\n", holder, c.Mode, names(rc.cert), rc.cert.Issuer.CommonName)
	return nil
}

func parsePEMs(s string) []*x509.Certificate {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && b.Type == "CERTIFICATE" {
			out = append(out, c)
		}
	}
}

// names are a certificate's SANs, or its common name when it has none (a CA).
func names(c *x509.Certificate) string {
	var out []string
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		return "CN=" + c.Subject.CommonName
	}
	return strings.Join(out, ",")
}

func selfSigned(c *x509.Certificate) bool {
	return c.IsCA && bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// holderOf names a CA by the first recorded certificate equal to it, else by its common name.
func (r *runner) holderOf(c *x509.Certificate) string {
	for _, rc := range r.sum.certs {
		if rc.cert.Equal(c) {
			return rc.holder
		}
	}
	return "CN=" + c.Subject.CommonName
}

// summarize prints the tables of certificates and handshakes, verifying each certificate with x509.Verify (to find
// its root among the recorded ones) and with openssl verify; either failing is a failed expectation, as is a
// handshake that did not go as expected.
func (r *runner) summarize() {
	if len(r.sum.certs) == 0 && len(r.sum.handshakes) == 0 {
		return
	}
	roots := x509.NewCertPool()
	for _, rc := range r.sum.certs {
		if selfSigned(rc.cert) {
			roots.AddCert(rc.cert)
		}
	}
	tmp, err := os.MkdirTemp("", "scenario-verify-")
	if err != nil {
		r.check(false, "cannot verify certificates: %v", err)
		return
	}
	defer os.RemoveAll(tmp)
	if len(r.sum.certs) > 0 {
		fmt.Fprintf(r.out, "\ncertificates (%d)\n", len(r.sum.certs))
		tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOLDER\tMODE\tNAMES\tISSUER\tROOT\tOPENSSL VERIFY")
		for i, rc := range r.sum.certs {
			issuer, root, verdict, ok := r.verify(tmp, i, rc, roots)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rc.holder, rc.mode, names(rc.cert), issuer, root, verdict)
			r.res.Certificates = append(r.res.Certificates, CertificateRow{Holder: rc.holder, Mode: rc.mode, Names: names(rc.cert),
				Issuer: issuer, Root: root, Verified: verdict, OK: ok})
			if !ok {
				r.res.Failed++
				r.res.Failures = append(r.res.Failures, fmt.Sprintf("certificate of %s (%s): %s", rc.holder, rc.mode, verdict))
			} else {
				r.res.Passed++
			}
		}
		tw.Flush()
	}
	if len(r.sum.handshakes) > 0 {
		fmt.Fprintf(r.out, "\nhandshakes (%d)\n", len(r.sum.handshakes))
		tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FROM\tTO\tTRUSTING\tRESULT\tAS EXPECTED")
		for _, h := range r.sum.handshakes {
			mark := "yes"
			if !h.ok {
				mark = "NO"
			}
			if h.expectFail && h.ok {
				mark = "yes (refused)"
			}
			r.res.Handshakes = append(r.res.Handshakes, HandshakeRow{From: h.from, To: h.to, Trusting: h.trusting, Result: h.result, OK: h.ok, ExpectFail: h.expectFail})
			// A handshake that went wrong already failed its step's expectation: the table only shows it.
			trusting := h.trusting
			if trusting == "" {
				trusting = "its trust store"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.from, h.to, trusting, cell(h.result, 70), mark)
		}
		tw.Flush()
	}
	fmt.Fprintln(r.out)
}

// verify finds rc's issuer (the recorded or chained CA whose key signed it) and the recorded root it chains to,
// and runs openssl verify against that root with the rest of its chain as untrusted intermediates.
func (r *runner) verify(tmp string, i int, rc recordedCert, roots *x509.CertPool) (issuer, root, verdict string, ok bool) {
	issuer = "CN=" + rc.cert.Issuer.CommonName
	candidates := append([]*x509.Certificate{}, rc.chain...)
	for _, o := range r.sum.certs {
		candidates = append(candidates, o.cert)
	}
	for _, c := range candidates {
		if c.IsCA && bytes.Equal(rc.cert.RawIssuer, c.RawSubject) && rc.cert.CheckSignatureFrom(c) == nil {
			issuer = r.holderOf(c)
			break
		}
	}
	inter := x509.NewCertPool()
	var interPEM []byte
	n := 0
	for _, c := range rc.chain {
		if !selfSigned(c) {
			n++
			inter.AddCert(c)
			interPEM = append(interPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
	}
	chains, err := rc.cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return issuer, "none", "chains to no recorded root: " + cell(err.Error(), 60), false
	}
	top := chains[0][len(chains[0])-1]
	root = r.holderOf(top)
	files := map[string][]byte{
		"leaf.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.cert.Raw}),
		"root.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: top.Raw}),
		"inter.pem": interPEM,
	}
	dir := filepath.Join(tmp, fmt.Sprint(i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return issuer, root, err.Error(), false
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			return issuer, root, err.Error(), false
		}
	}
	args := []string{"verify", "-CAfile", filepath.Join(dir, "root.pem")}
	if len(interPEM) > 0 {
		args = append(args, "-untrusted", filepath.Join(dir, "inter.pem"))
	}
	out, err := exec.CommandContext(r.ctx, "openssl", append(args, filepath.Join(dir, "leaf.pem"))...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "leaf.pem: OK") {
		return issuer, root, "FAILED: " + cell(string(out), 60), false
	}
	verdict = "OK"
	if len(interPEM) > 0 {
		verdict = fmt.Sprintf("OK (-untrusted: %d)", n)
	}
	return issuer, root, verdict, true
}

// cell is s on one line, cut to n characters for a table.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// lastLine is the last non-empty line of s, for a one-line result.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
