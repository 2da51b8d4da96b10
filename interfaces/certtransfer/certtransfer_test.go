package certtransfer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	ct "github.com/tls-authority/tls-authority/interfaces/certtransfer"
)

type fixture struct {
	Meta     map[string]any `json:"meta"`
	Databags struct {
		App  map[string]string `json:"app"`
		Unit map[string]string `json:"unit"`
	} `json:"databags"`
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

// fixtureCAs returns CA_A and CA_B as the fixtures hold them.
func fixtureCAs(t testing.TB) (a, b string) {
	t.Helper()
	var list []string
	if err := json.Unmarshal([]byte(loadFixture(t, "ct-v1p15-provider-app.json").Databags.App[ct.KeyCertificates]), &list); err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		c, err := ca.ParseCertificate(p)
		if err != nil {
			t.Fatal(err)
		}
		switch c.Subject.CommonName {
		case "Fixture Root CA A":
			a = p
		case "Fixture Root CA B":
			b = p
		}
	}
	if a == "" || b == "" {
		t.Fatal("fixture CAs not found")
	}
	return a, b
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestRequirerVersion(t *testing.T) {
	tests := []struct {
		bag  map[string]string
		want int
	}{
		{loadFixture(t, "ct-v1p15-requirer-app.json").Databags.App, 1},
		{loadFixture(t, "ct-v0p11-requirer-app.json").Databags.App, 0},
		{nil, 0},
		{map[string]string{"version": ""}, 0},
		{map[string]string{"version": "2"}, 0},
		{map[string]string{"version": " 1"}, 0},
		{map[string]string{"version": `"1"`}, 0},
	}
	for i, tt := range tests {
		if got := ct.RequirerVersion(tt.bag); got != tt.want {
			t.Errorf("%d: RequirerVersion(%v) = %d, want %d", i, tt.bag, got, tt.want)
		}
	}
	if got, want := ct.WriteRequirerV1(), loadFixture(t, "ct-v1p15-requirer-app.json").Databags.App; !reflect.DeepEqual(got, want) {
		t.Errorf("WriteRequirerV1 = %v, fixture %v", got, want)
	}
}

func TestReadFixtures(t *testing.T) {
	caA, caB := fixtureCAs(t)
	leaf := loadFixture(t, "ct-v0p11-provider-unit.json").Databags.Unit[ct.KeyCertificate]
	tests := []struct {
		file   string
		v1, v0 []string
	}{
		{"ct-v1p15-provider-app.json", sorted(caA, caB), nil},
		{"ct-v1p15-provider-v0-fallback-unit.json", nil, sorted(caA, caB)},
		// The v1 Python requirer cannot read raw PEM ("expecting json"); we
		// can. The v0 library put the provider's leaf in certificate and
		// chain, so it is in the set too.
		{"ct-v0p11-provider-unit.json", nil, sorted(caA, leaf)},
		{"ct-v1p15-requirer-app.json", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := loadFixture(t, tt.file)
			v1, err := ct.ReadV1(f.Databags.App)
			if err != nil || !reflect.DeepEqual(v1, tt.v1) {
				t.Errorf("ReadV1 = %d certs, %v; want %d", len(v1), err, len(tt.v1))
			}
			v0, err := ct.ReadV0(f.Databags.Unit)
			if err != nil || !reflect.DeepEqual(v0, tt.v0) {
				t.Errorf("ReadV0 = %d certs, %v; want %d", len(v0), err, len(tt.v0))
			}
			want := tt.v1
			if len(want) == 0 {
				want = tt.v0
			}
			if got := ct.ReadBundle(f.Databags.App, map[string]map[string]string{"provider/0": f.Databags.Unit}); !reflect.DeepEqual(got, want) {
				t.Errorf("ReadBundle = %d certs, want %d", len(got), len(want))
			}
		})
	}
}

func TestWriteFixtures(t *testing.T) {
	caA, caB := fixtureCAs(t)

	// v1: byte-exact when the Python set happened to come out sorted;
	// otherwise the same set in sorted order.
	f := loadFixture(t, "ct-v1p15-provider-app.json")
	got := ct.WriteV1([]string{caB, caA, caA})
	want := map[string]string{
		ct.KeyCertificates: `[` + jsonQuote(sorted(caA, caB)[0]) + `, ` + jsonQuote(sorted(caA, caB)[1]) + `]`,
		ct.KeyVersion:      "1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WriteV1 = %v", got)
	}
	if slices.IsSorted(mustList(t, f.Databags.App[ct.KeyCertificates])) && !reflect.DeepEqual(got, f.Databags.App) {
		t.Errorf("WriteV1 differs from the sorted fixture")
	}
	if back, err := ct.ReadV1(got); err != nil || !reflect.DeepEqual(back, sorted(caA, caB)) {
		t.Errorf("ReadV1(WriteV1) = %v", err)
	}
	if got := ct.WriteV1(nil); !reflect.DeepEqual(got, map[string]string{"certificates": "[]", "version": "1"}) {
		t.Errorf("WriteV1(empty) = %v", got)
	}

	// v0: the fixture's first chain member is its ca; fed in that order we
	// write the same bytes.
	f = loadFixture(t, "ct-v1p15-provider-v0-fallback-unit.json")
	chain := mustList(t, f.Databags.Unit[ct.KeyChain])
	got = ct.WriteV0(chain)
	if slices.IsSorted(chain[1:]) && !reflect.DeepEqual(got, f.Databags.Unit) {
		for k, v := range f.Databags.Unit {
			if got[k] != v {
				t.Errorf("WriteV0 %s:\n got %.120q\nwant %.120q", k, got[k], v)
			}
		}
	}
	if got[ct.KeyCA] != f.Databags.Unit[ct.KeyCA] || got[ct.KeyCertificate] != f.Databags.Unit[ct.KeyCertificate] || got[ct.KeyVersion] != "0" {
		t.Errorf("WriteV0 ca/certificate/version differ from the fixture")
	}
	if back, err := ct.ReadV0(got); err != nil || !reflect.DeepEqual(back, sorted(caA, caB)) {
		t.Errorf("ReadV0(WriteV0) = %v", err)
	}
	// The first member given is the ca, whatever the sort order.
	for _, first := range []string{caA, caB} {
		other := caB
		if first == caB {
			other = caA
		}
		got := ct.WriteV0([]string{first, other})
		if got[ct.KeyCA] != jsonQuote(first) || got[ct.KeyChain] != "["+jsonQuote(first)+", "+jsonQuote(other)+"]" {
			t.Errorf("WriteV0 did not keep the first CA first")
		}
	}
	clear := map[string]string{"ca": "", "certificate": "", "chain": "", "version": ""}
	if got := ct.WriteV0(nil); !reflect.DeepEqual(got, clear) {
		t.Errorf("WriteV0(empty) = %v, want the keys deleted", got)
	}
	if got := ct.ClearV0(); !reflect.DeepEqual(got, clear) {
		t.Errorf("ClearV0 = %v", got)
	}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustList(t *testing.T, v string) []string {
	t.Helper()
	var l []string
	if err := json.Unmarshal([]byte(v), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestReadV1V0Lenient(t *testing.T) {
	caA, caB := fixtureCAs(t)
	key, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(key, ca.Subject{CommonName: "C"}, time.Hour, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	caC := ca.EncodeCertificate(root)
	keyPEM, _ := ca.EncodePrivateKey(key)
	// caA with CRLF line ends and a trailing newline: the same certificate.
	rewrapped := strings.ReplaceAll(caA, "\n", "\r\n") + "\r\n"

	v1 := func(list ...string) map[string]string {
		b, _ := json.Marshal(list)
		return map[string]string{"certificates": string(b)}
	}
	tests := []struct {
		name    string
		read    func() ([]string, error)
		want    []string
		wantErr bool
	}{
		{"v1 absent", func() ([]string, error) { return ct.ReadV1(nil) }, nil, false},
		{"v1 deleted", func() ([]string, error) { return ct.ReadV1(map[string]string{"certificates": ""}) }, nil, false},
		{"v1 null", func() ([]string, error) { return ct.ReadV1(map[string]string{"certificates": "null"}) }, nil, false},
		{"v1 empty", func() ([]string, error) { return ct.ReadV1(map[string]string{"certificates": "[]"}) }, nil, false},
		{"v1 compact JSON, duplicates, CRLF", func() ([]string, error) { return ct.ReadV1(v1(caB, caA, rewrapped)) }, sorted(caA, caB), false},
		{"v1 bundle in one entry", func() ([]string, error) { return ct.ReadV1(v1(caA + "\n" + caC)) }, sorted(caA, caC), false},
		{"v1 bad entry among good", func() ([]string, error) { return ct.ReadV1(v1("nope", caA, keyPEM)) }, []string{caA}, true},
		{"v1 not JSON", func() ([]string, error) { return ct.ReadV1(map[string]string{"certificates": caA}) }, nil, true},
		{"v1 not strings", func() ([]string, error) { return ct.ReadV1(map[string]string{"certificates": "[1]"}) }, nil, true},
		{"v0 raw", func() ([]string, error) { return ct.ReadV0(map[string]string{"ca": caA, "version": "0"}) }, []string{caA}, false},
		{"v0 quoted", func() ([]string, error) {
			return ct.ReadV0(map[string]string{"ca": jsonQuote(caA), "certificate": jsonQuote(caA)})
		}, []string{caA}, false},
		{"v0 chain raw bundle", func() ([]string, error) { return ct.ReadV0(map[string]string{"chain": caA + "\n" + caB}) }, sorted(caA, caB), false},
		{"v0 bad ca, good chain", func() ([]string, error) {
			return ct.ReadV0(map[string]string{"ca": `"junk"`, "chain": `[` + jsonQuote(caB) + `]`})
		}, []string{caB}, true},
		{"v0 bad JSON chain", func() ([]string, error) { return ct.ReadV0(map[string]string{"chain": `["x"`}) }, nil, true},
		{"v0 empty", func() ([]string, error) { return ct.ReadV0(map[string]string{"version": "0"}) }, nil, false},
		{"v0 junk before PEM", func() ([]string, error) { return ct.ReadV0(map[string]string{"ca": "x" + caA}) }, nil, true},
	}
	for _, tt := range tests {
		got, err := tt.read()
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %d certs, err %v; want %d, err %v", tt.name, len(got), err, len(tt.want), tt.wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "cannot read") {
			t.Errorf("%s: error %q", tt.name, err)
		}
	}
}

func TestReadBundleFallback(t *testing.T) {
	caA, caB := fixtureCAs(t)
	v0A := ct.WriteV0([]string{caA})
	v0B := ct.WriteV0([]string{caB})
	tests := []struct {
		name  string
		app   map[string]string
		units map[string]map[string]string
		want  []string
	}{
		{"nothing", nil, nil, nil},
		{"v1 wins over v0", ct.WriteV1([]string{caA}), map[string]map[string]string{"p/0": v0B}, []string{caA}},
		{"empty v1 falls back", ct.WriteV1(nil), map[string]map[string]string{"p/0": v0B}, []string{caB}},
		{"unreadable v1 falls back", map[string]string{"certificates": "{"}, map[string]map[string]string{"p/0": v0B}, []string{caB}},
		{"units merged", nil, map[string]map[string]string{"p/0": v0A, "p/1": v0B, "p/2": ct.ClearV0()}, sorted(caA, caB)},
		{"every call", nil, map[string]map[string]string{"p/0": v0A}, []string{caA}},
	}
	for _, tt := range tests {
		for range 2 { // the Python v1 requirer's fallback works once per process; ours always
			if got := ct.ReadBundle(tt.app, tt.units); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: got %d certs, want %d", tt.name, len(got), len(tt.want))
			}
		}
	}
}

func FuzzReadV1(f *testing.F) {
	f.Add(loadFixture(f, "ct-v1p15-provider-app.json").Databags.App[ct.KeyCertificates])
	f.Add(`["x", null]`)
	f.Fuzz(func(t *testing.T, value string) {
		certs, _ := ct.ReadV1(map[string]string{ct.KeyCertificates: value})
		// What we read, we write, and it reads back the same.
		back, err := ct.ReadV1(ct.WriteV1(certs))
		if err != nil || !reflect.DeepEqual(back, certs) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzReadV0(f *testing.F) {
	for _, name := range []string{"ct-v1p15-provider-v0-fallback-unit.json", "ct-v0p11-provider-unit.json"} {
		u := loadFixture(f, name).Databags.Unit
		f.Add(u["ca"], u["certificate"], u["chain"])
	}
	f.Fuzz(func(t *testing.T, caV, certV, chainV string) {
		certs, _ := ct.ReadV0(map[string]string{"ca": caV, "certificate": certV, "chain": chainV})
		back, err := ct.ReadV0(ct.WriteV0(certs))
		if err != nil || !reflect.DeepEqual(back, certs) {
			t.Fatalf("round trip: %v", err)
		}
		_ = ct.ReadBundle(map[string]string{ct.KeyCertificates: chainV}, map[string]map[string]string{"u/0": {"ca": caV}})
	})
}
