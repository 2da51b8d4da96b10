package agent_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tls-authority/tls-authority/agent"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, cn string, notAfter time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(0x1234),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) crl(t *testing.T, nextUpdate time.Time, revoked int) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for i := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(int64(100 + i)), RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: nextUpdate, RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// writeFile replaces a file the way Pebble pushes do: a new file renamed
// over the old one.
func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, srv *httptest.Server, method, path string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func newServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(agent.New(&agent.Options{Dir: dir}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFileRoutes(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "root", time.Now().Add(time.Hour))
	crl := ca.crl(t, time.Now().Add(time.Hour), 1)
	crlPEM := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})
	srv := newServer(t, dir)
	tests := []struct {
		path, file, contentType string
		data                    []byte
	}{
		{"/ca.pem", "ca.pem", "application/x-pem-file", ca.pem},
		{"/chain.pem", "chain.pem", "application/x-pem-file", append(ca.pem, ca.pem...)},
		{"/crl", "crl.der", "application/pkix-crl", crl},
		{"/crl.pem", "crl.pem", "application/x-pem-file", crlPEM},
		// Each trusted CA's own CRL, by the hex id its certificates' distribution points name.
		{"/crl/0a1b2c", "crl-0a1b2c.der", "application/pkix-crl", crl},
		{"/crl/0a1b2c.pem", "crl-0a1b2c.pem", "application/x-pem-file", crlPEM},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if code, _, _ := get(t, srv, "GET", tt.path); code != http.StatusNotFound {
				t.Errorf("missing file: status %d, want 404", code)
			}
			writeFile(t, dir, tt.file, tt.data)
			code, body, h := get(t, srv, "GET", tt.path)
			if code != http.StatusOK || body != string(tt.data) || h.Get("Content-Type") != tt.contentType {
				t.Errorf("got %d %q %q", code, h.Get("Content-Type"), body)
			}
			st, err := os.Stat(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			lastModified := st.ModTime().UTC().Format(http.TimeFormat)
			if h.Get("Last-Modified") != lastModified || h.Get("Content-Length") != fmt.Sprint(len(tt.data)) || h.Get("Accept-Ranges") != "bytes" {
				t.Errorf("GET headers %v, want Last-Modified %s", h, lastModified)
			}
			// Conditional and range requests go through http.ServeContent.
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			req.Header.Set("If-Modified-Since", lastModified)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-Modified-Since: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			req, _ = http.NewRequest("GET", srv.URL+tt.path, nil)
			req.Header.Set("Range", "bytes=0-1")
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusPartialContent {
				t.Errorf("Range: %v %v", resp, err)
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != string(tt.data[:2]) {
					t.Errorf("Range body %q", b)
				}
			}
			code, body, h = get(t, srv, "HEAD", tt.path)
			if code != http.StatusOK || body != "" || h.Get("Content-Length") != fmt.Sprint(len(tt.data)) {
				t.Errorf("HEAD: %d %q %v", code, body, h)
			}
			if code, _, _ := get(t, srv, "POST", tt.path); code != http.StatusMethodNotAllowed {
				t.Errorf("POST: status %d, want 405", code)
			}
			os.Remove(filepath.Join(dir, tt.file))
			if code, _, _ := get(t, srv, "GET", tt.path); code != http.StatusNotFound {
				t.Errorf("removed file: status %d, want 404", code)
			}
		})
	}
	// A CA's CRL path names lower-case hex only: nothing else in the directory can be reached through it.
	writeFile(t, dir, "crl-inventory.json", []byte("[]"))
	writeFile(t, dir, "crl-ab.der", crl)
	for _, path := range []string{"/", "/inventory.json", "/key.pem", "/../ca.pem", "/crl/inventory.json", "/crl/AB",
		"/crl/ab.der", "/crl/", "/crl/..%2fca.pem", "/crl/ab/x"} {
		if code, _, _ := get(t, srv, "GET", path); code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, code)
		}
	}
}

func TestFileReplacedIsServed(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir)
	tests := []struct {
		name    string
		replace func(data []byte)
	}{
		{"rename over", func(data []byte) { writeFile(t, dir, "chain.pem", data) }},
		{"rewritten in place, same size", func(data []byte) {
			path := filepath.Join(dir, "chain.pem")
			os.WriteFile(path, data, 0o644)
			// Same size, same inode: only the mtime tells.
			later := time.Now().Add(time.Duration(len(data)) * time.Second)
			os.Chtimes(path, later, later)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, content := range []string{"version-1\n", "version-2\n", "version-3\n"} {
				if i == 0 {
					writeFile(t, dir, "chain.pem", []byte(content))
				} else {
					tt.replace([]byte(content))
				}
				if _, body, _ := get(t, srv, "GET", "/chain.pem"); body != content {
					t.Errorf("served %q, want %q", body, content)
				}
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "agent")
	srv := newServer(t, dir)
	ca := newCA(t, "root", time.Now().Add(time.Hour))
	steps := []struct {
		name     string
		setup    func()
		wantCode int
		wantBody string
	}{
		{"no dir", func() {}, 503, "cannot read directory"},
		{"empty dir", func() { os.Mkdir(dir, 0o755) }, 503, "cannot read ca.pem"},
		{"garbage ca", func() { writeFile(t, dir, "ca.pem", []byte("not a cert")) }, 503, "cannot find a PEM certificate"},
		{"bad der", func() {
			writeFile(t, dir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}))
		}, 503, "cannot parse certificate"},
		{"good ca", func() { writeFile(t, dir, "ca.pem", ca.pem) }, 200, "ok\n"},
		{"ca removed", func() { os.Remove(filepath.Join(dir, "ca.pem")) }, 503, "cannot read ca.pem"},
		{"back", func() { writeFile(t, dir, "ca.pem", ca.pem) }, 200, "ok\n"},
	}
	for _, s := range steps {
		s.setup()
		code, body, _ := get(t, srv, "GET", "/healthz")
		if code != s.wantCode || !strings.Contains(body, s.wantBody) {
			t.Errorf("%s: %d %q, want %d %q", s.name, code, body, s.wantCode, s.wantBody)
		}
	}
}

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1500000000, 0)
	srv := httptest.NewServer(agent.New(&agent.Options{Dir: dir, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	notAfter := time.Unix(2000000000, 0)
	root := newCA(t, `root "quoted"`, notAfter)
	inter := newCA(t, "intermediate", time.Unix(1800000000, 0))
	day := 24 * time.Hour
	inventory := []agent.InventoryEntry{
		// req/0 holds two: the earliest not-after and the largest life fraction are its series.
		{Serial: "0a", Subject: "CN=a", SANs: []string{"a"}, NotBefore: now.Add(-9 * day), NotAfter: now.Add(day), Relation: "certificates:1", Unit: "req/0"},
		{Serial: "0d", Subject: "CN=d", NotBefore: now.Add(-day), NotAfter: now.Add(3 * day), Relation: "certificates:1", Unit: "req/0"},
		{Serial: "0b", Subject: "CN=b", NotAfter: now.Add(day), Revoked: true, Relation: "certificates:1", Unit: "req/1"},
		// An older charm's entry, without not-before: an expiry but no life fraction.
		{Serial: "0c", Subject: "CN=c\nx", NotAfter: now.Add(-day), Relation: "certificates:2", Unit: "other"},
	}
	invJSON, _ := json.Marshal(inventory)
	type sample struct {
		name   string
		labels string // name=value,... sorted by name
		value  float64
	}
	tests := []struct {
		name    string
		setup   func()
		want    []sample
		notWant []string // families that must be absent
	}{
		{"nothing", func() {}, []sample{{"process_open_fds", "", -1}, {"go_goroutines", "", -1}},
			[]string{"tls_authority_ca_expiry_timestamp_seconds", "tls_authority_certificates_issued", "tls_authority_inventory_valid"}},
		{"bundle and chain", func() {
			writeFile(t, dir, "ca.pem", root.pem)
			// The chain repeats the root: one series per CA, whatever file names it.
			writeFile(t, dir, "chain.pem", append(append([]byte{}, inter.pem...), root.pem...))
			writeFile(t, dir, "crl.pem", []byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
		}, []sample{
			// RFC 2253 escapes the quotes.
			{"tls_authority_ca_expiry_timestamp_seconds", `key_id=` + hexID(root.cert) + `,serial=1234,subject=CN=root \"quoted\"`, 2000000000},
			{"tls_authority_ca_expiry_timestamp_seconds", `key_id=` + hexID(inter.cert) + `,serial=1234,subject=CN=intermediate`, 1800000000},
		}, []string{"tls_authority_certificates_issued"}},
		{"inventory", func() { writeFile(t, dir, "inventory.json", invJSON) }, []sample{
			{"tls_authority_inventory_valid", "", 1},
			{"tls_authority_certificates_issued", "", 3},
			{"tls_authority_certificates_revoked", "", 1},
			{"tls_authority_certificates_expired", "", 1},
			{"tls_authority_certificate_series_dropped", "", 0},
			{"tls_authority_certificate_expiry_timestamp_seconds", "relation=certificates:1,unit=req/0", float64(now.Add(day).Unix())},
			{"tls_authority_certificate_expiry_timestamp_seconds", "relation=certificates:2,unit=other", float64(now.Add(-day).Unix())},
			{"tls_authority_certificate_life_used_ratio", "relation=certificates:1,unit=req/0", 0.9},
		}, []string{"tls_authority_requests_outstanding"}},
		{"counts", func() {
			writeFile(t, dir, "counts.json", []byte(`{"issued":3,"outstanding":4,"refused":2,"revoked":1}`))
		}, []sample{
			{"tls_authority_requests_outstanding", "", 4},
			{"tls_authority_requests_refused", "", 2},
		}, nil},
		{"crls", func() {
			writeFile(t, dir, "crl.der", root.crl(t, time.Unix(1950000000, 0), 2))
			writeFile(t, dir, "crl-"+hexID(root.cert)+".der", root.crl(t, time.Unix(1950000000, 0), 2))
			writeFile(t, dir, "crl-"+hexID(inter.cert)+".der", inter.crl(t, time.Unix(1960000000, 0), 0))
		}, []sample{
			{"tls_authority_crl_next_update_timestamp_seconds", "key_id=" + hexID(root.cert), 1950000000},
			{"tls_authority_crl_revoked_certificates", "key_id=" + hexID(root.cert), 2},
			{"tls_authority_crl_next_update_timestamp_seconds", "key_id=" + hexID(inter.cert), 1960000000},
			{"tls_authority_crl_revoked_certificates", "key_id=" + hexID(inter.cert), 0},
		}, nil},
		{"broken inventory", func() { writeFile(t, dir, "inventory.json", []byte("{")) }, []sample{
			{"tls_authority_inventory_valid", "", 0},
		}, []string{"tls_authority_certificates_issued", "tls_authority_certificate_expiry_timestamp_seconds"}},
	}
	for _, tt := range tests {
		tt.setup()
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		families, err := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s: %d %v", tt.name, resp.StatusCode, err)
		}
		for _, w := range tt.want {
			f := families[w.name]
			if f == nil {
				t.Errorf("%s: no family %s", tt.name, w.name)
				continue
			}
			found := false
			for _, m := range f.GetMetric() {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+l.GetValue())
				}
				if strings.Join(ls, ",") != w.labels {
					continue
				}
				found = true
				if got := m.GetGauge().GetValue(); w.value >= 0 && math.Abs(got-w.value) > 1e-9 {
					t.Errorf("%s: %s{%s} = %v, want %v", tt.name, w.name, w.labels, got, w.value)
				}
			}
			if !found {
				t.Errorf("%s: no series %s{%s} in %v", tt.name, w.name, w.labels, f)
			}
		}
		for _, name := range tt.notWant {
			if families[name] != nil {
				t.Errorf("%s: family %s is there: %v", tt.name, name, families[name])
			}
		}
	}
}

func hexID(c *x509.Certificate) string { return hex.EncodeToString(c.SubjectKeyId) }

// TestMetricsCardinality: the per-certificate series are one per relation and unit, however many certificates
// each holds, and at most agent.MaxCertificateSeries, the first to expire kept.
func TestMetricsCardinality(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(agent.New(&agent.Options{Dir: dir}))
	t.Cleanup(srv.Close)
	base := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	var inv []agent.InventoryEntry
	holders := agent.MaxCertificateSeries + 50
	for i := range holders {
		for j := range 3 {
			inv = append(inv, agent.InventoryEntry{Serial: fmt.Sprintf("%x%x", i, j), NotBefore: base.Add(-time.Hour),
				NotAfter: base.Add(time.Duration(i*10+j) * time.Minute), Relation: fmt.Sprintf("certificates:%d", i%7), Unit: fmt.Sprintf("r%d/0", i)}) // three certificates each
		}
	}
	b, _ := json.Marshal(inv)
	writeFile(t, dir, "inventory.json", b)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	exp := families["tls_authority_certificate_expiry_timestamp_seconds"].GetMetric()
	if len(exp) != agent.MaxCertificateSeries {
		t.Errorf("%d expiry series, want %d", len(exp), agent.MaxCertificateSeries)
	}
	if d := families["tls_authority_certificate_series_dropped"].GetMetric()[0].GetGauge().GetValue(); d != 50 {
		t.Errorf("dropped = %v, want 50", d)
	}
	latest := 0.0
	for _, m := range exp {
		latest = max(latest, m.GetGauge().GetValue())
	}
	// Holder i's first certificate expires at base + 10i minutes: the ones kept are 0..Max-1.
	if want := float64(base.Add(time.Duration((agent.MaxCertificateSeries-1)*10) * time.Minute).Unix()); latest != want {
		t.Errorf("latest kept expiry %v, want %v", latest, want)
	}
	if n := families["tls_authority_certificates_issued"].GetMetric()[0].GetGauge().GetValue(); n != float64(3*holders) {
		t.Errorf("issued = %v", n)
	}
}

func TestDefaultListenAddress(t *testing.T) {
	addr := agent.DefaultListenAddress()
	if !strings.HasSuffix(addr, ":8080") {
		t.Errorf("DefaultListenAddress() = %q, want port 8080", addr)
	}
}

func TestParseInventory(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{`[]`, 0, false},
		{`[{"serial":"01","subject":"CN=x","sans":["x"],"not_after":"2030-01-02T03:04:05Z","relation":"certificates:3","unit":"r/0","revoked":true}]`, 1, false},
		{`{}`, 0, true},
		{`[{"not_after":"tomorrow"}]`, 0, true},
	}
	for _, tt := range tests {
		got, err := agent.ParseInventory([]byte(tt.in))
		if (err != nil) != tt.wantErr || len(got) != tt.want {
			t.Errorf("ParseInventory(%s) = %v, %v", tt.in, got, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "cannot ") {
			t.Errorf("error %q", err)
		}
	}
}

// TestConcurrentReplace serves while the file is being replaced: every
// response is one whole version, never a mix (run with -race).
func TestConcurrentReplace(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir)
	versions := map[string]bool{}
	for i := range 5 {
		versions[strings.Repeat(fmt.Sprint(i), 1000+i)] = true
	}
	writeFile(t, dir, "chain.pem", []byte(strings.Repeat("0", 1000)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			writeFile(t, dir, "chain.pem", []byte(strings.Repeat(fmt.Sprint(i%5), 1000+i%5)))
		}
	}()
	errs := make(chan string, 8)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				resp, err := srv.Client().Get(srv.URL + "/chain.pem")
				if err != nil {
					errs <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !versions[string(body)] {
					errs <- fmt.Sprintf("served a mixed or unknown version (%d bytes)", len(body))
					return
				}
			}
		}()
	}
	for range 4 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
