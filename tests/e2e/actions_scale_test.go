package e2e

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// Action results a hook tool takes: one argument at most 128 KiB (Linux MAX_ARG_STRLEN), and Juju keeps an
// action's results in one 16 MiB MongoDB document. The charm keeps to 96 KiB and 4 MiB.
const (
	maxResultArg = 96 << 10
	maxResults   = 4<<20 + 64<<10 // a page's budget plus the small keys and the parts' framing
)

// The documented jq one-liners (actions.yaml), run on `juju run --format json` output.
const (
	jqCertificates = `.[].results as $r | if $r.certificates then $r.certificates | fromjson else [range(1; ($r["certificates-parts"] | tonumber) + 1) | $r["certificates-\(.)"] | fromjson[]] end`
	jqCRL          = `.[].results as $r | if $r.crl then $r.crl else [range(1; ($r["crl-parts"] | tonumber) + 1) | $r["crl-\(.)"]] | join("") end`
)

type listedCert struct {
	CSR         string   `json:"csr"`
	Certificate string   `json:"certificate"`
	CA          string   `json:"ca"`
	Chain       []string `json:"chain"`
	Revoked     bool     `json:"revoked"`
	RelationID  int      `json:"relation_id"`
}

// TestActionsAtScale: 10,000 certificates issued on 20 relations (500 requests in each requirer's app databag,
// certificate-limit -1; a relation's settings are one MongoDB document too, so they are spread). The real charm
// serves get-issued-certificates page by page and every certificate comes back once, through the documented
// one-liner too; the relation-id filter pages the same way. revoke-certificate by common name revokes all 10,000
// in one action, and get-crl gives the CRL of 10,000 serials in parts that put back together equal the agent's
// /crl.pem. No action-set argument passes 96 KiB and no result 4 MiB. With -short: 1,000 on 4 relations.
func TestActionsAtScale(t *testing.T) {
	total, nRels := 10000, 20
	if testing.Short() {
		total, nRels = 1000, 4
	}
	per := total / nRels
	start := time.Now()
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, map[string]any{"certificate-limit": -1})
	var rels []*sim.Relation
	for i := range nRels {
		name := fmt.Sprintf("req-n%02d", i)
		deployRequirer(t, m, name, 1)
		rels = append(rels, integrate(t, m, name+":certificates", "tls-authority:certificates"))
	}
	settle(t, s)
	// One key for every CSR (keys are not what is measured); every subject the same, so one revocation by common
	// name takes them all; a SAN each, so every CSR differs.
	key := ecKey(t)
	for i := range nRels {
		reqs := make([]tlscertificates.CSRRequest, per)
		for j := range per {
			reqs[j] = req(newCSR(t, key, "scale.example.com", fmt.Sprintf("n%05d.scale.example.com", i*per+j)), false)
		}
		publishCSRs(t, m.Unit(fmt.Sprintf("req-n%02d/0", i)), true, reqs...)
	}
	settle(t, s)
	issued := map[string]bool{} // certificate PEM
	for _, r := range rels {
		certs, _, _ := issuedBag(t, r, authority.Name())
		if len(certs) != per {
			t.Fatalf("relation %d holds %d certificates, want %d", r.ID(), len(certs), per)
		}
		for _, c := range certs {
			issued[c.Certificate] = true
		}
	}
	t.Logf("%d certificates issued on %d relations in %v", len(issued), nRels, time.Since(start).Round(time.Second))
	leader := authority.Leader()

	// Every certificate, page after page.
	all, pages := pageAll(t, leader, nil, total, per)
	if len(all) != total {
		t.Fatalf("%d certificates listed, want %d", len(all), total)
	}
	for _, c := range all {
		if !issued[c.Certificate] {
			t.Fatalf("listed a certificate no relation holds (relation %d)", c.RelationID)
		}
		delete(issued, c.Certificate)
		if c.CSR == "" || c.CA == "" || len(c.Chain) == 0 || c.Chain[0] != c.Certificate || c.Revoked {
			t.Fatalf("entry on relation %d: csr %t ca %t chain %d, revoked %v", c.RelationID, c.CSR != "", c.CA != "", len(c.Chain), c.Revoked)
		}
	}
	if len(issued) != 0 {
		t.Fatalf("%d certificates never listed", len(issued))
	}
	if total >= 10000 && pages < 2 {
		t.Fatalf("%d certificates on %d page", total, pages)
	}

	// One relation, small pages.
	one := rels[nRels/2]
	some, _ := pageAll(t, leader, map[string]any{"relation-id": one.ID(), "limit": per/3 + 1}, per, per)
	if len(some) != per {
		t.Fatalf("relation %d: %d listed, want %d", one.ID(), len(some), per)
	}
	for _, c := range some {
		if c.RelationID != one.ID() {
			t.Fatalf("relation-id %d listed a certificate of relation %d", one.ID(), c.RelationID)
		}
	}

	// Revoke them all in one action; its results hold the serials and the CRL in parts.
	began := time.Now()
	res := action(t, leader, "revoke-certificate", map[string]any{"common-name": "scale.example.com"})
	t.Logf("revoke-certificate of %d: %v, %d action-set calls", total, time.Since(began).Round(time.Millisecond), lastCalls(t, leader)["action-set"])
	checkResultSizes(t, leader, res)
	if res.Results["revoked-count"] != strconv.Itoa(total) {
		t.Fatalf("revoked-count %v, want %d", res.Results["revoked-count"], total)
	}
	var serials []string
	for _, p := range resultParts(t, res.Results, "revoked") {
		var list []string
		if err := json.Unmarshal([]byte(p), &list); err != nil {
			t.Fatal(err)
		}
		serials = append(serials, list...)
	}
	if len(serials) != total || !slices.IsSorted(serials) {
		t.Fatalf("%d serials in the results (sorted %v), want %d", len(serials), slices.IsSorted(serials), total)
	}
	revokedCRL := strings.Join(resultParts(t, res.Results, "crl"), "")
	settle(t, s)

	// get-crl: the CRL of 10,000 serials, in parts, equal to what the agent serves and to revoke's.
	began = time.Now()
	res = action(t, leader, "get-crl", nil)
	t.Logf("get-crl with %d revoked: %v, %d action-set calls, %s parts", total, time.Since(began).Round(time.Millisecond), lastCalls(t, leader)["action-set"], orOne(res.Results["crl-parts"]))
	checkResultSizes(t, leader, res)
	crlPEM := strings.Join(resultParts(t, res.Results, "crl"), "")
	if oneLiner := runJQ(t, jqCRL, leader, res); oneLiner != "" && oneLiner != crlPEM {
		t.Fatal("the documented one-liner does not give the CRL back")
	}
	if crlPEM != revokedCRL {
		t.Fatal("get-crl and revoke-certificate give different CRLs")
	}
	if total >= 10000 && (res.Results["crl-url"] == nil || res.Results["crl-parts"] == nil) {
		t.Fatalf("a CRL of %d bytes without parts or crl-url: %v", len(crlPEM), res.Results["crl-url"])
	}
	served := strings.TrimSpace(string(httpGet(t, fmt.Sprintf("http://%s:8080/crl.pem", leader.Address()))))
	if served != strings.TrimSpace(crlPEM) {
		t.Fatalf("the agent serves another CRL (%d bytes, action %d)", len(served), len(crlPEM))
	}
	block, _ := pem.Decode([]byte(crlPEM))
	if block == nil || block.Type != "X509 CRL" {
		t.Fatal("get-crl gave no PEM CRL")
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != total {
		t.Fatalf("the CRL lists %d serials, want %d", len(crl.RevokedCertificateEntries), total)
	}
	if err := crl.CheckSignatureFrom(parseCert(t, caOf(t, authority))); err != nil {
		t.Fatal(err)
	}
	t.Logf("CRL of %d serials: %d bytes of PEM; whole test %v", total, len(crlPEM), time.Since(start).Round(time.Second))
}

// pageAll runs get-issued-certificates from offset 0 until no next-offset, checks each page's keys, sizes and
// reads (relations hold per certificates each), and returns every certificate and the number of pages.
func pageAll(t *testing.T, u *sim.Unit, params map[string]any, total, per int) ([]listedCert, int) {
	t.Helper()
	var all []listedCert
	offset, pages := 0, 0
	for {
		p := map[string]any{}
		if offset > 0 { // the first call as an operator makes it, without paging parameters
			p["offset"] = offset
		}
		for k, v := range params {
			p[k] = v
		}
		began := time.Now()
		res := action(t, u, "get-issued-certificates", p)
		took := time.Since(began)
		checkResultSizes(t, u, res)
		pages++
		page := pageCerts(t, res)
		if oneLiner := runJQ(t, jqCertificates, u, res); oneLiner != "" {
			var viaJQ []listedCert
			if err := json.Unmarshal([]byte(oneLiner), &viaJQ); err != nil || !slices.EqualFunc(viaJQ, page, func(a, b listedCert) bool { return a.Certificate == b.Certificate }) {
				t.Fatalf("the documented one-liner gives %d certificates (%v), the parts %d", len(viaJQ), err, len(page))
			}
		}
		if res.Results["total"] != strconv.Itoa(total) || res.Results["count"] != strconv.Itoa(len(page)) {
			t.Fatalf("page at %d: total %v count %v, want %d and %d", offset, res.Results["total"], res.Results["count"], total, len(page))
		}
		all = append(all, page...)
		calls := lastCalls(t, u)
		t.Logf("get-issued-certificates offset=%d: %d certificates in %s parts, %v, %d action-set calls, %d relation-get", offset, len(page), orOne(res.Results["certificates-parts"]), took.Round(time.Millisecond), calls["action-set"], calls["relation-get"])
		// The peer databag, and only the provider databags the page covers (and the next one, to see it is full).
		if maxReads := 1 + (len(page)+per-1)/per + 2; calls["relation-get"] > maxReads {
			t.Fatalf("a page of %d certificates read %d databags (at most %d)", len(page), calls["relation-get"], maxReads)
		}
		next, ok := res.Results["next-offset"].(string)
		if !ok {
			if len(all) != total {
				t.Fatalf("no next-offset after %d of %d", len(all), total)
			}
			return all, pages
		}
		n, err := strconv.Atoi(next)
		if err != nil || n != offset+len(page) || len(page) == 0 {
			t.Fatalf("next-offset %q after %d from %d", next, len(page), offset)
		}
		offset = n
	}
}

// pageCerts decodes one get-issued-certificates result: its certificates list, whole or in parts.
func pageCerts(t testing.TB, res *sim.ActionResult) []listedCert {
	t.Helper()
	var page []listedCert
	for _, part := range resultParts(t, res.Results, "certificates") {
		var list []listedCert
		if err := json.Unmarshal([]byte(part), &list); err != nil {
			t.Fatalf("get-issued-certificates: %v", err)
		}
		page = append(page, list...)
	}
	return page
}

// listIssued lists every certificate get-issued-certificates gives on u, page after page.
func listIssued(t testing.TB, u *sim.Unit) []listedCert {
	t.Helper()
	var all []listedCert
	params := map[string]any{}
	for {
		res := action(t, u, "get-issued-certificates", params)
		all = append(all, pageCerts(t, res)...)
		next, ok := res.Results["next-offset"].(string)
		if !ok {
			return all
		}
		n, err := strconv.Atoi(next)
		if err != nil {
			t.Fatalf("next-offset %q", next)
		}
		params["offset"] = n
	}
}

func orOne(v any) string {
	if v == nil {
		return "1"
	}
	return fmt.Sprint(v)
}

// resultParts gives the value under key, or its parts key-1 ... key-N (N = key-parts) in order.
func resultParts(t testing.TB, results map[string]any, key string) []string {
	t.Helper()
	if v, ok := results[key].(string); ok {
		return []string{v}
	}
	n, err := strconv.Atoi(fmt.Sprint(results[key+"-parts"]))
	if err != nil || n < 2 {
		t.Fatalf("neither %s nor %s-parts in the results (%v)", key, key, results[key+"-parts"])
	}
	parts := make([]string, n)
	for i := range n {
		v, ok := results[fmt.Sprintf("%s-%d", key, i+1)].(string)
		if !ok {
			t.Fatalf("%s-%d missing", key, i+1)
		}
		parts[i] = v
	}
	return parts
}

// checkResultSizes: no result value passes what one argument holds, and all of them what the charm allows itself.
func checkResultSizes(t *testing.T, u *sim.Unit, res *sim.ActionResult) {
	t.Helper()
	size := 0
	for k, v := range res.Results {
		s, ok := v.(string)
		if !ok {
			continue // return-code
		}
		if len(k)+1+len(s) > maxResultArg {
			t.Fatalf("result %s: %d bytes in one argument", k, len(k)+1+len(s))
		}
		size += len(k) + 1 + len(s)
	}
	if size > maxResults {
		t.Fatalf("%s results: %d bytes", res.Name, size)
	}
}

// lastCalls is the tool calls of u's last hook (the action just run).
func lastCalls(t *testing.T, u *sim.Unit) map[string]int {
	t.Helper()
	hooks := u.Hooks()
	for i := len(hooks) - 1; i >= 0; i-- {
		if hooks[i].Kind == "action" {
			return hooks[i].ToolCalls
		}
	}
	t.Fatal("no action ran")
	return nil
}

// runJQ runs a documented jq filter on res shaped as `juju run --format json` prints it; "" when jq is missing.
func runJQ(t *testing.T, filter string, u *sim.Unit, res *sim.ActionResult) string {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		return ""
	}
	in, err := json.Marshal(map[string]any{u.Name(): map[string]any{"id": res.ID, "results": res.Results, "status": res.Status, "unit": u.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("jq", "-jr", filter)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq %s: %v", filter, err)
	}
	return string(out)
}
