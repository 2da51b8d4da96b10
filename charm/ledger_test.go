package charm

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// issueTest has auth sign a leaf for cn, valid for validity from now.
func issueTest(t *testing.T, auth *ca.Authority, subject pkix.Name, validity time.Duration, now time.Time) *x509.Certificate {
	t.Helper()
	k, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, k)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := auth.Issue(csr, ca.IssueOptions{Validity: validity, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestLedger: every issuance recorded in a hook goes into the peer databag with the hook's write, appended to the
// last chunk (earlier chunks are not rewritten), in chunks of ledgerChunk; a hook with nothing new and nothing
// expired parses and writes nothing; once an entry expires it leaves the ledger; a non-leader keeps nothing. And
// the size of 10,000 entries.
func TestLedger(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	content, caCert := testCA(t, "ledger CA", now)
	auth, err := authorityFrom(content)
	if err != nil {
		t.Fatal(err)
	}
	r := &reconciler{leader: true, peerID: "authority:0", o: &Options{Now: func() time.Time { return now }}, peer: map[string]string{}}
	hook := func() {
		t.Helper()
		r.peerUpdate = nil
		if err := r.stageLedger(); err != nil {
			t.Fatal(err)
		}
	}
	short := issueTest(t, auth, pkix.Name{CommonName: "short"}, time.Hour, now)
	r.recordIssued(short, "certificates:3/web/0")
	var long []*x509.Certificate
	for i := range ledgerChunk + 10 {
		c := issueTest(t, auth, pkix.Name{CommonName: fmt.Sprintf("long-%d", i)}, 48*time.Hour, now)
		long = append(long, c)
		r.recordIssued(c, servingHolder("tls-authority/0"))
	}
	hook()
	if keys := ledgerKeys(r.peer); !slices.Equal(keys, []string{"ledger-0", "ledger-1"}) {
		t.Fatalf("chunks %v", keys)
	}
	all, err := r.ledger()
	if err != nil || len(all) != ledgerChunk+11 {
		t.Fatalf("%d entries, %v", len(all), err)
	}
	e, err := findSerial(all, serialHex(short))
	if err != nil || e.Holder != "certificates:3/web/0" || e.CN != "short" || !e.issuedBy(caCert) || e.NotAfter != short.NotAfter.Unix() {
		t.Fatalf("entry %+v, %v", e, err)
	}
	if r.peer[peerLedgerExpiry] != strconv.FormatInt(short.NotAfter.Unix(), 10) {
		t.Fatalf("next expiry %s", r.peer[peerLedgerExpiry])
	}

	// Nothing new, nothing expired: no write.
	hook()
	if len(r.peerUpdate) != 0 {
		t.Fatalf("a steady hook wrote %v", r.peerUpdate)
	}
	// One more issuance rewrites the last chunk only.
	one := issueTest(t, auth, pkix.Name{CommonName: "one"}, 48*time.Hour, now)
	r.recordIssued(one, "certificates:4/db")
	hook()
	if _, ok := r.peerUpdate["ledger-0"]; ok || r.peerUpdate["ledger-1"] == "" {
		t.Fatalf("an append wrote %v", slices.Sorted(mapKeys(r.peerUpdate)))
	}
	// Past the first expiry: the short one leaves; the next expiry moves on.
	now = now.Add(2 * time.Hour)
	hook()
	if all, _ = r.ledger(); len(all) != ledgerChunk+11 {
		t.Fatalf("after the first expiry: %d entries", len(all))
	}
	if _, err := findSerial(all, serialHex(short)); err == nil {
		t.Fatal("the expired serial is still in the ledger")
	}
	if r.peer[peerLedgerExpiry] != strconv.FormatInt(long[0].NotAfter.Unix(), 10) {
		t.Fatalf("next expiry %s", r.peer[peerLedgerExpiry])
	}
	// Past every expiry: the ledger is empty, its keys gone.
	now = now.Add(72 * time.Hour)
	hook()
	for k := range r.peer {
		if strings.HasPrefix(k, peerLedgerPrefix) || k == peerLedgerExpiry {
			t.Fatalf("%s left after every entry expired", k)
		}
	}
	// A non-leader keeps nothing.
	follower := &reconciler{peerID: "authority:0", o: r.o, peer: map[string]string{}}
	follower.recordIssued(one, "x")
	if err := follower.stageLedger(); err != nil || len(follower.peer) != 0 {
		t.Fatalf("a non-leader staged %v, %v", follower.peer, err)
	}

	// Size: 10,000 entries of 128-bit serials, a relation holder and a 40-character CN.
	large := &reconciler{leader: true, peerID: "authority:0", o: r.o, peer: map[string]string{}}
	for i := range 10000 {
		serial := new(big.Int).Lsh(big1(), 127)
		serial.Add(serial, big.NewInt(int64(i)))
		large.ledgerAdds = append(large.ledgerAdds, ledgerEntry{Serial: serial.Text(16), CA: strings.Repeat("a", ledgerCALen),
			NotAfter: now.Add(90 * 24 * time.Hour).Unix(), Holder: fmt.Sprintf("certificates:%d/app-%d/%d", i%100, i%100, i%10),
			CN: fmt.Sprintf("app-%d-%d.app-endpoints.model.svc.cluster.local", i%100, i%10)[:40]})
	}
	if err := large.stageLedger(); err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, k := range ledgerKeys(large.peer) {
		size += len(k) + len(large.peer[k])
	}
	t.Logf("10,000 ledger entries: %d bytes in %d keys (%d bytes an entry)", size, len(ledgerKeys(large.peer)), size/10000)
	if size > 2<<20 {
		t.Fatalf("10,000 entries take %d bytes", size)
	}
}

func big1() *big.Int { return big.NewInt(1) }

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestCommonName: revoke-certificate by common name matches the CN exactly, whatever pkix.Name.String escaped or
// joined: commas, plus signs, multi-valued RDNs, leading and trailing spaces, a leading '#', quotes, backslashes.
func TestCommonName(t *testing.T) {
	oidCN, oidO := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}
	rdn := func(set ...pkix.AttributeTypeAndValue) pkix.RelativeDistinguishedNameSET { return set }
	atv := func(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	tests := []struct {
		name string
		seq  pkix.RDNSequence
	}{
		{"plain", pkix.RDNSequence{rdn(atv(oidO, "org")), rdn(atv(oidCN, "web.example.com"))}},
		{"escaped comma", pkix.RDNSequence{rdn(atv(oidCN, `a,b`))}},
		{"comma and O after", pkix.RDNSequence{rdn(atv(oidO, "x,y")), rdn(atv(oidCN, `a\,b`))}},
		{"multi-valued CN+O", pkix.RDNSequence{rdn(atv(oidCN, "x"), atv(oidO, "y"))}},
		{"multi-valued O+CN", pkix.RDNSequence{rdn(atv(oidO, "y"), atv(oidCN, "x"))}},
		{"plus sign", pkix.RDNSequence{rdn(atv(oidCN, "a+O=b"))}},
		{"CN= inside", pkix.RDNSequence{rdn(atv(oidO, "CN=evil")), rdn(atv(oidCN, "good"))}},
		{"spaces and hash", pkix.RDNSequence{rdn(atv(oidCN, "#lead and trail "))}},
		{"quotes, angle brackets, semicolon, backslash", pkix.RDNSequence{rdn(atv(oidCN, `"q" <a>;b\c`))}},
		{"equals", pkix.RDNSequence{rdn(atv(oidCN, "a=b"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var name pkix.Name
			name.FillFromRDNSequence(&tt.seq)
			raw, err := asn1.Marshal(tt.seq)
			if err != nil {
				t.Fatal(err)
			}
			// A real certificate's subject, as the inventory describes it.
			content, _ := testCA(t, "cn test", time.Now())
			auth, err := authorityFrom(content)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := ca.GenerateKey(ca.ECDSAP256)
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: raw}, k)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := auth.Issue(csr, ca.IssueOptions{Validity: time.Hour, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			want := cert.Subject.CommonName
			if want == "" || want != name.CommonName {
				t.Fatalf("the certificate's CN %q, the name's %q", want, name.CommonName)
			}
			if got := commonName(cert.Subject.String()); got != want {
				t.Fatalf("commonName(%q) = %q, want %q", cert.Subject.String(), got, want)
			}
		})
	}
}

// TestCRLDropsExpired: a revoked serial leaves the CRL once its certificate has expired (RFC 5280 5.1.2.6), and
// the CRL is signed again without it; a serial revoked by an older charm (no expiry known) stays.
func TestCRLDropsExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	content, caCert := testCA(t, "crl CA", now)
	auth, err := authorityFrom(content)
	if err != nil {
		t.Fatal(err)
	}
	r := &reconciler{o: &Options{Now: func() time.Time { return now }}, cfg: &Config{CRLValidity: 7 * 24 * time.Hour},
		peer: map[string]string{peerRevoked: mustJSON([]revocation{
			{Serial: "a1", RevokedAt: now, NotAfter: now.Add(time.Hour)},
			{Serial: "b2", RevokedAt: now, NotAfter: now.Add(30 * 24 * time.Hour)},
			{Serial: "c3", RevokedAt: now},
		})}}
	pub := &published{CA: content["certificate"], cert: caCert}
	sign := func() []string {
		t.Helper()
		if err := r.maintainCRL(pub, func() (*ca.Authority, error) { return auth, nil }); err != nil {
			t.Fatal(err)
		}
		crl := parseCRL(t, r.peer[peerCRL])
		if err := crl.CheckSignatureFrom(caCert); err != nil {
			t.Fatal(err)
		}
		got := serials(crl)
		slices.Sort(got)
		return got
	}
	if got := sign(); !slices.Equal(got, []string{"a1", "b2", "c3"}) {
		t.Fatalf("before any expiry: %v", got)
	}
	now = now.Add(2 * time.Hour)
	if got := sign(); !slices.Equal(got, []string{"b2", "c3"}) {
		t.Fatalf("after a1 expired: %v", got)
	}
	var left []revocation
	if err := json.Unmarshal([]byte(r.peer[peerRevoked]), &left); err != nil || len(left) != 2 {
		t.Fatalf("the revoked list keeps %v, %v", left, err)
	}
}

// compromiseRunner is the part of Juju compromiseRotation talks to: secret-set and secret-remove, recorded.
type compromiseRunner struct {
	set     []map[string]string
	removed []string
}

func (f *compromiseRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	switch tool {
	case "secret-set":
		content := map[string]string{}
		for i, a := range args {
			if a == "--file" && i+1 < len(args) {
				b, err := os.ReadFile(args[i+1])
				if err != nil {
					return nil, err
				}
				content["file"] = string(b)
			}
		}
		f.set = append(f.set, content)
		return nil, nil
	case "secret-remove":
		f.removed = append(f.removed, args[0])
		return nil, nil
	case "secret-info-get":
		// The previous CA's secret, found by its label once the peer data no longer names it.
		return []byte(`{"prev":{"label":"tls-authority-ca-previous","revision":1}}`), nil
	case "juju-log":
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected %s %v", tool, args)
}

// TestCompromiseRotation: in the middle of a rotation's overlap, a compromise rotation replaces the CA at once:
// the bundle holds the new CA only; the action keeps the compromised pair (which no longer signs) beside the new
// one and the previous CA's secret, so that a commit failing after its secrets leaves what the action run again
// needs; the leader's next hook removes the previous CA's secret and keeps no key of either old CA in the CA
// secret (dropRetiredKeys); each old CA signs a last CRL listing every unexpired serial the ledger says it issued (and no other
// CA's), plus what it had revoked, valid until the latest of them expires; the agents serve those CRLs at each old
// CA's distribution point until then, and not after.
func TestCompromiseRotation(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	curContent, curCert := testCA(t, "current", now)
	prevContent, prevCert := testCA(t, "previous", now)
	curAuth, _ := authorityFrom(curContent)
	prevAuth, _ := authorityFrom(prevContent)
	run := &compromiseRunner{}
	cfg := &Config{Subject: ca.Subject{CommonName: "after compromise"}, Algorithm: ca.ECDSAP256, RootValidity: 365 * 24 * time.Hour,
		LeafValidity: 90 * 24 * time.Hour, CRLValidity: 7 * 24 * time.Hour}
	r := &reconciler{hc: hooktool.New(hooktool.Env{UnitName: "tls-authority/0", ModelName: "pki"}, run), leader: true, peerID: "authority:0",
		o: &Options{Now: func() time.Time { return now }}, cfg: cfg,
		caContent:   map[string]string{"private-key": curContent["private-key"], "certificate": curContent["certificate"], "next-private-key": "NEXT KEY", "next-certificate": "x"},
		prevContent: prevContent,
		peer: map[string]string{
			peerCA: curContent["certificate"], peerBundle: mustJSON([]string{curContent["certificate"], prevContent["certificate"]}),
			peerCASecret: "secret:ca", peerPreviousCA: prevContent["certificate"], peerPreviousSecret: "secret:prev",
			peerOverlapUntil: now.Add(time.Hour).Format(time.RFC3339), peerCRLNumber: "7",
			peerPreviousRevoked: mustJSON([]revocation{{Serial: "77", RevokedAt: now, NotAfter: now.Add(time.Hour)}}),
		}}
	cur1 := issueTest(t, curAuth, pkix.Name{CommonName: "cur1"}, 90*24*time.Hour, now)
	cur2 := issueTest(t, curAuth, pkix.Name{CommonName: "cur2"}, 10*24*time.Hour, now)
	expired := issueTest(t, curAuth, pkix.Name{CommonName: "expired"}, time.Minute, now.Add(-time.Hour))
	prev1 := issueTest(t, prevAuth, pkix.Name{CommonName: "prev1"}, 30*24*time.Hour, now)
	for i, c := range []*x509.Certificate{cur1, cur2, expired, prev1} {
		r.recordIssued(c, fmt.Sprintf("certificates:%d/a/0", i))
	}
	pub, err := r.published()
	if err != nil {
		t.Fatal(err)
	}
	newPub, retired, err := r.compromiseRotation(pub)
	if err != nil {
		t.Fatal(err)
	}
	if newPub.cert.Equal(curCert) || len(newPub.Bundle) != 1 || newPub.Bundle[0] != newPub.CA || r.peer[peerBundle] != mustJSON([]string{newPub.CA}) {
		t.Fatalf("bundle after the compromise: %v", r.peer[peerBundle])
	}
	for _, k := range []string{peerPreviousCA, peerPreviousSecret, peerOverlapUntil, peerNextCA, peerPreviousRevoked, peerRevoked} {
		if r.peer[k] != "" {
			t.Errorf("%s left: %q", k, r.peer[k])
		}
	}
	if len(run.removed) != 0 || len(run.set) != 1 {
		t.Fatalf("the action removed %v and set %d secrets", run.removed, len(run.set))
	}
	if v := run.set[0]["file"]; !strings.Contains(v, jsonString(curContent["private-key"])) || strings.Contains(v, "NEXT KEY") ||
		strings.Contains(v, jsonString(prevContent["private-key"])) {
		t.Fatal("the action's CA secret does not hold the current pair, or holds the phase-1 or previous key")
	}
	if a, err := authorityFor(r.caContent, newPub.CA); err != nil || !a.Certificate.Equal(newPub.cert) || r.prevContent != nil {
		t.Fatalf("the hook's CA is not the new one: %v", err)
	}
	if r.peer[peerRetiredKeys] == "" {
		t.Fatal("no mark for the leader's next hook")
	}
	if err := r.dropRetiredKeys(newPub); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(run.removed, []string{"prev"}) || len(run.set) != 2 {
		t.Fatalf("the next hook removed %v and set %d secrets", run.removed, len(run.set))
	}
	for _, old := range []string{curContent["private-key"], prevContent["private-key"]} {
		if strings.Contains(run.set[1]["file"], jsonString(old)) {
			t.Fatal("an old key is kept in the CA secret")
		}
	}
	if r.caContent["certificate"] != newPub.CA || r.caContent["next-certificate"] != "" || r.peer[peerRetiredKeys] != "" {
		t.Fatal("the CA secret does not hold the new pair alone")
	}
	if len(retired) != 2 {
		t.Fatalf("%d CAs retired", len(retired))
	}
	files := map[string]string{}
	r.crlFiles(newPub, files)
	for _, tt := range []struct {
		cert  *x509.Certificate
		want  []string
		until time.Time
	}{
		{curCert, []string{serialHex(cur1), serialHex(cur2)}, cur1.NotAfter},
		{prevCert, []string{"77", serialHex(prev1)}, prev1.NotAfter},
	} {
		pemCRL := files["crl-"+crlKeyID(tt.cert)+".pem"]
		if pemCRL == "" {
			t.Fatalf("no CRL served for %s", tt.cert.Subject.CommonName)
		}
		crl := parseCRL(t, pemCRL)
		if err := crl.CheckSignatureFrom(tt.cert); err != nil {
			t.Fatalf("%s's last CRL: %v", tt.cert.Subject.CommonName, err)
		}
		got := serials(crl)
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s's last CRL lists %v, want %v", tt.cert.Subject.CommonName, got, want)
		}
		if !crl.NextUpdate.Equal(tt.until.UTC().Truncate(time.Second)) && !crl.NextUpdate.Equal(tt.until.UTC()) {
			t.Errorf("%s's last CRL next update %v, want %v", tt.cert.Subject.CommonName, crl.NextUpdate, tt.until)
		}
	}
	if n := parseCRL(t, files["crl-"+crlKeyID(curCert)+".pem"]).Number; n.Int64() != 8 {
		t.Errorf("the old CA's last CRL number %v, want 8", n)
	}
	// After the previous CA's last CRL runs out, it is no longer served nor kept; the current one's still is.
	now = prev1.NotAfter.Add(time.Minute)
	if err := r.pruneRetiredCRLs(now); err != nil {
		t.Fatal(err)
	}
	files = map[string]string{}
	r.crlFiles(newPub, files)
	if files["crl-"+crlKeyID(prevCert)+".pem"] != "" || r.peer[peerRetiredCRLPrefix+crlKeyID(prevCert)] != "" {
		t.Error("the previous CA's last CRL outlived its next update")
	}
	if files["crl-"+crlKeyID(curCert)+".pem"] == "" {
		t.Error("the current CA's last CRL left before its next update")
	}
}

// jsonString is s as it appears inside a JSON string (the secret content files are JSON).
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}
