package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// joinParts reads back what putText or putList set under key: the value itself, or its parts in order.
func joinParts(t *testing.T, res map[string]string, key string) []string {
	t.Helper()
	if v, ok := res[key]; ok {
		if _, split := res[key+"-parts"]; split {
			t.Fatalf("both %s and %s-parts set", key, key)
		}
		return []string{v}
	}
	n, err := strconv.Atoi(res[key+"-parts"])
	if err != nil || n < 2 {
		t.Fatalf("%s-parts = %q: want a count of at least 2", key, res[key+"-parts"])
	}
	var parts []string
	for i := 1; i <= n; i++ {
		v, ok := res[partKey(key, i)]
		if !ok {
			t.Fatalf("part %d of %d missing", i, n)
		}
		parts = append(parts, v)
	}
	if len(res) != n+1 {
		t.Fatalf("%d keys for %d parts", len(res), n)
	}
	return parts
}

func checkArgs(t *testing.T, res map[string]string) {
	t.Helper()
	for k, v := range res {
		if hooktool.ActionResultArgSize(k, v) > hooktool.MaxActionArg {
			t.Fatalf("%s: %d bytes, more than one argument holds", k, hooktool.ActionResultArgSize(k, v))
		}
	}
}

func TestPutText(t *testing.T) {
	line := strings.Repeat("A", 64) + "\n"
	pem := "-----BEGIN X509 CRL-----\n" + strings.Repeat(line, 9000) + "-----END X509 CRL-----"
	tests := []struct {
		name      string
		text      string
		parts     int
		lineCuts  bool // every part but the last ends a line
		validUTF8 bool
	}{
		{"empty", "", 1, false, true},
		{"small", "x\ny", 1, false, true},
		{"fills one argument", strings.Repeat("x", hooktool.MaxActionArg-len("crl=")), 1, false, true},
		{"one byte more", strings.Repeat("x", hooktool.MaxActionArg-len("crl=")+1), 2, false, true},
		{"a CRL of 9000 lines", pem, 6, true, true},
		{"no line end, multi-byte runes", strings.Repeat("é€", 40000), 3, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := map[string]string{}
			n := putText(res, "crl", tt.text)
			checkArgs(t, res)
			parts := joinParts(t, res, "crl")
			if n != tt.parts || len(parts) != n {
				t.Fatalf("%d parts (returned %d), want %d", len(parts), n, tt.parts)
			}
			if got := strings.Join(parts, ""); got != tt.text {
				t.Fatal("the parts do not give the text back")
			}
			for i, p := range parts {
				if tt.lineCuts && i < len(parts)-1 && !strings.HasSuffix(p, "\n") {
					t.Fatalf("part %d does not end a line", i+1)
				}
				if tt.validUTF8 && !utf8.ValidString(p) {
					t.Fatalf("part %d cuts a UTF-8 sequence", i+1)
				}
			}
		})
	}
}

func TestPutList(t *testing.T) {
	item := func(i, size int) string { return mustJSON(fmt.Sprintf("%05d", i) + strings.Repeat("x", size)) }
	items := func(n, size int) []string {
		var out []string
		for i := range n {
			out = append(out, item(i, size))
		}
		return out
	}
	tests := []struct {
		name  string
		items []string
		parts int
		err   string
	}{
		{"none", nil, 1, ""},
		{"small", items(3, 10), 1, ""},
		{"just one argument", items(16, 6000), 1, ""},
		{"five parts", items(100, 4800), 5, ""},
		{"one item too large", append(items(2, 10), item(2, hooktool.MaxActionArg)), 0, "item 2 is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := map[string]string{}
			n, err := putList(res, "certificates", tt.items)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkArgs(t, res)
			parts := joinParts(t, res, "certificates")
			if n != tt.parts || len(parts) != n {
				t.Fatalf("%d parts (returned %d), want %d", len(parts), n, tt.parts)
			}
			var got []string
			for i, p := range parts {
				var list []json.RawMessage
				if err := json.Unmarshal([]byte(p), &list); err != nil {
					t.Fatalf("part %d is not a JSON list: %v", i+1, err)
				}
				if len(list) == 0 && len(tt.items) > 0 {
					t.Fatalf("part %d is empty", i+1)
				}
				for _, r := range list {
					got = append(got, string(r))
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.items, ",") {
				t.Fatalf("the parts give %d items back, want the %d in order", len(got), len(tt.items))
			}
		})
	}
}

func TestPagerFill(t *testing.T) {
	all := make([]issued, 5)
	for i := range all {
		all[i] = issued{CSR: fmt.Sprintf("csr-%d", i), Chain: []string{}}
	}
	one := len(mustJSON(all[0])) + 1
	tests := []struct {
		name                  string
		offset, limit, budget int
		first, count, next    int
	}{
		{"everything", 0, 0, 1 << 20, 0, 5, 0},
		{"limit", 0, 3, 1 << 20, 0, 3, 3},
		{"limit reaches the end", 2, 3, 1 << 20, 2, 3, 0},
		{"last page", 3, 3, 1 << 20, 3, 2, 0},
		{"offset at the end", 5, 0, 1 << 20, 0, 0, 0},
		{"offset past the end", 9, 0, 1 << 20, 0, 0, 0},
		{"budget of two", 1, 0, 2 * one, 1, 2, 3},
		{"budget below one entry", 4, 0, 1, 4, 1, 0},
		{"budget below one entry, more left", 0, 0, 1, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg := &pager{limit: tt.limit, budget: tt.budget}
			next := pg.fill(all, tt.offset)
			items := pg.items
			if len(items) != tt.count || next != tt.next {
				t.Fatalf("%d items, next %d; want %d, next %d", len(items), next, tt.count, tt.next)
			}
			for i, it := range items {
				if want := mustJSON(all[tt.first+i]); it != want {
					t.Fatalf("item %d = %s, want %s", i, it, want)
				}
			}
		})
	}
}

func TestSerialSummary(t *testing.T) {
	var serials []string
	for i := range 10000 {
		serials = append(serials, fmt.Sprintf("%040x", i))
	}
	if got := serialSummary(serials[:2]); got != serials[0]+", "+serials[1] {
		t.Fatalf("two serials: %q", got)
	}
	got := serialSummary(serials)
	if !strings.HasSuffix(got, "and 9990 more (10000 in all)") || len(got) > 1024 {
		t.Fatalf("10000 serials: %d bytes ending %q", len(got), got[len(got)-40:])
	}
}

// bagRunner answers relation-get for this app's databags and counts the reads per relation.
type bagRunner struct {
	bags  map[string]map[string]string // relation id -> databag
	reads map[string]int
	mu    sync.Mutex
}

func (b *bagRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	if tool != "relation-get" || len(args) < 2 {
		return nil, fmt.Errorf("unexpected %s %v", tool, args)
	}
	b.mu.Lock()
	b.reads[args[1]]++
	b.mu.Unlock()
	return json.Marshal(b.bags[args[1]])
}

func fakePEM(typ string, i int) string {
	return fmt.Sprintf("-----BEGIN %s-----\nMDAw%04d\n-----END %s-----", typ, i, typ)
}

// TestIssuedPage: a page reads only the databags it covers, trusting the peer inventory's counts; a relation the
// inventory says nothing of, or a databag holding another number, makes it read every databag. Either way the
// page holds the same entries.
func TestIssuedPage(t *testing.T) {
	held := map[string]int{"certificates:1": 3, "certificates:2": 0, "certificates:5": 4, "certificates:9": 2}
	ids := []string{"certificates:1", "certificates:2", "certificates:5", "certificates:9"}
	var want []string // every certificate, in order
	bags := map[string]map[string]string{}
	for _, id := range ids {
		var certs []tlscertificates.ProviderCertificate
		for range held[id] {
			c := fakePEM("CERTIFICATE", len(want))
			want = append(want, c)
			certs = append(certs, tlscertificates.ProviderCertificate{CSR: fakePEM("CERTIFICATE REQUEST", len(want)), Certificate: c, Chain: []string{c}})
		}
		bags[id] = tlscertificates.WriteProviderBag(certs, nil, nil)
	}
	inventory := func(counts map[string]int) string {
		var inv []InventoryEntry
		for _, id := range ids {
			for range counts[id] {
				inv = append(inv, InventoryEntry{Relation: id})
			}
		}
		return mustJSON(inv)
	}
	written := mustJSON(map[string]string{"certificates:1": "d1", "certificates:2": "d2", "certificates:5": "d5", "certificates:9": "d9"})
	wrong := maps.Clone(held)
	wrong["certificates:5"] = 3
	tests := []struct {
		name          string
		inventory     map[string]int
		written       string
		offset, limit int
		first, count  int
		next          int
		reads         []string
	}{
		{"first two", held, written, 0, 2, 0, 2, 2, []string{"certificates:1"}},
		{"across relations", held, written, 2, 2, 2, 2, 4, []string{"certificates:1", "certificates:5"}},
		{"one relation, limit at its end", held, written, 3, 4, 3, 4, 7, []string{"certificates:5"}},
		{"the rest", held, written, 7, 0, 7, 2, 0, []string{"certificates:9"}},
		{"everything", held, written, 0, 0, 0, 9, 0, []string{"certificates:1", "certificates:5", "certificates:9"}},
		{"past the end", held, written, 9, 0, 0, 0, 0, nil},
		{"a databag disagrees", wrong, written, 3, 2, 3, 2, 5, ids},
		{"an empty relation without a digest", held, "", 7, 0, 7, 2, 0, ids},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &bagRunner{bags: bags, reads: map[string]int{}}
			r := &reconciler{hc: hooktool.New(hooktool.Env{UnitName: "tls-authority/0"}, run), peer: map[string]string{peerInventory: inventory(tt.inventory)}}
			if tt.written != "" {
				r.peer[peerWritten] = tt.written
			}
			pg := &pager{limit: tt.limit, budget: 1 << 20}
			total, next, err := r.issuedPage(ids, tt.offset, pg)
			if err != nil {
				t.Fatal(err)
			}
			if total != len(want) || next != tt.next || len(pg.items) != tt.count {
				t.Fatalf("total %d, next %d, %d items; want %d, %d, %d", total, next, len(pg.items), len(want), tt.next, tt.count)
			}
			for i, it := range pg.items {
				var e issued
				if err := json.Unmarshal([]byte(it), &e); err != nil || e.Certificate != want[tt.first+i] {
					t.Fatalf("item %d: %s, want certificate %d", i, it, tt.first+i)
				}
			}
			var reads []string
			for _, id := range ids {
				if run.reads[id] > 0 {
					reads = append(reads, id)
				}
				if run.reads[id] > 1 {
					t.Errorf("%s read %d times", id, run.reads[id])
				}
			}
			if !slices.Equal(reads, tt.reads) {
				t.Fatalf("read %v, want %v", reads, tt.reads)
			}
		})
	}
}
