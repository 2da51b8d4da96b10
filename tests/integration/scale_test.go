package integration

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestIssuedCertificatesAtScale: three units of a bulk requirer (testdata/bulkrequirer) ask for 100 certificates
// each; get-issued-certificates lists all 300, in one result and page by page, each one signed by the CA.
func TestIssuedCertificatesAtScale(t *testing.T) {
	s := setup(t, 40*time.Minute)
	const units, each = 3, 100 // 100: the authority reads at most 100 requests of one unit's databag (charm/limits.go maxCSRsPerUnitBag)
	charm := buildBulkRequirer(t)
	m := s.model("scale")
	s.authority(m, "tls-authority", 1, nil)
	if err := m.Deploy(s.ctx, "bulk", charm, units, map[string]string{"count": strconv.Itoa(each)}, nil); err != nil {
		t.Fatal(err)
	}
	s.integrate(m, "bulk:certificates", "tls-authority:certificates")
	s.settle(m)
	ca := s.ca(m, "tls-authority")
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca)) {
		t.Fatal("cannot parse the CA")
	}
	leader := s.leaderOf(m, "tls-authority")

	start := time.Now()
	all, total, next := s.issuedPage(m, leader, 0, 0)
	t.Logf("get-issued-certificates: %d certificates in one result, %s", len(all), time.Since(start).Round(time.Millisecond))
	if total != units*each || len(all) != units*each || next != 0 {
		t.Errorf("one result: %d certificates, total %d, next-offset %d; want %d, %d, none", len(all), total, next, units*each, units*each)
	}
	seen := map[string]bool{}
	for i, e := range all {
		b, _ := pem.Decode([]byte(e.Certificate))
		if b == nil {
			t.Fatalf("entry %d: no PEM certificate", i)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: c.Subject.CommonName}); err != nil {
			t.Errorf("entry %d (%s): %v", i, c.Subject.CommonName, err)
		}
		seen[c.Subject.CommonName] = true
	}
	if len(seen) != units*each {
		t.Errorf("%d distinct names, want %d", len(seen), units*each)
	}

	// Page by page: 100 at a time gives the same list.
	var paged []issuedEntry
	for offset := 0; ; {
		page, total, next := s.issuedPage(m, leader, offset, 100)
		if total != units*each || len(page) > 100 {
			t.Fatalf("page at %d: %d certificates, total %d", offset, len(page), total)
		}
		paged = append(paged, page...)
		if next == 0 {
			break
		}
		offset = next
	}
	if len(paged) != len(all) {
		t.Fatalf("pages gave %d certificates, one result %d", len(paged), len(all))
	}
	for i := range paged {
		if paged[i].Certificate != all[i].Certificate {
			t.Fatalf("page entry %d differs from the single result's", i)
		}
	}
}

// issuedEntry is one entry of get-issued-certificates.
type issuedEntry struct {
	CSR         string `json:"csr"`
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
	Revoked     bool   `json:"revoked"`
}

// issuedPage runs get-issued-certificates and joins its parts (certificates, or certificates-1..N).
func (s *suite) issuedPage(m *Model, unit string, offset, limit int) (entries []issuedEntry, total, next int) {
	s.t.Helper()
	out, err := m.RunAction(s.ctx, unit, "get-issued-certificates", map[string]any{"offset": offset, "limit": limit})
	if err != nil {
		s.t.Fatal(err)
	}
	num := func(k string) int { n, _ := strconv.Atoi(fmt.Sprint(out[k])); return n }
	lists := []string{fmt.Sprint(out["certificates"])}
	if parts := num("certificates-parts"); parts > 0 {
		lists = nil
		for i := 1; i <= parts; i++ {
			lists = append(lists, fmt.Sprint(out[fmt.Sprintf("certificates-%d", i)]))
		}
	}
	for _, l := range lists {
		var part []issuedEntry
		if err := json.Unmarshal([]byte(l), &part); err != nil {
			s.t.Fatalf("get-issued-certificates: cannot parse its list: %v", err)
		}
		entries = append(entries, part...)
	}
	if _, ok := out["next-offset"]; ok {
		next = num("next-offset")
	}
	return entries, num("total"), next
}

// buildBulkRequirer builds testdata/bulkrequirer in the repository's root module and packs it as make requirer
// packs the reference requirer (cmd/pack-charm).
func buildBulkRequirer(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dispatch, out := filepath.Join(dir, "dispatch"), filepath.Join(dir, "bulk-requirer_amd64.charm")
	build := exec.Command("go", "build", "-o", dispatch, "./tests/integration/testdata/bulkrequirer/main.go")
	build.Dir, build.Env = root, append(build.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the bulk requirer: %v\n%s", err, b)
	}
	pack := exec.Command("go", "run", "./cmd/pack-charm", "-charm-dir", "tests/integration/testdata/bulkrequirer", "-dispatch", dispatch, "-o", out)
	pack.Dir = root
	if b, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("cannot pack the bulk requirer: %v\n%s", err, b)
	}
	return out
}
