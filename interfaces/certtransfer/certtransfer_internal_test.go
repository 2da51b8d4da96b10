package certtransfer

import (
	"encoding/json"
	"os"
	"testing"
)

// TestPythonListFormat checks the writer against the fixture byte for byte,
// fed in the fixture's own order (the Python set's order is arbitrary, so
// WriteV1's sorted output matches the fixture only when the set happens to
// be sorted).
func TestPythonListFormat(t *testing.T) {
	for _, tt := range []struct{ file, side, key string }{
		{"ct-v1p15-provider-app.json", "app", KeyCertificates},
		{"ct-v1p15-provider-v0-fallback-unit.json", "unit", KeyChain},
		{"ct-v0p11-provider-unit.json", "unit", KeyChain},
	} {
		data, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Databags map[string]map[string]string `json:"databags"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		want := f.Databags[tt.side][tt.key]
		var list []string
		if err := json.Unmarshal([]byte(want), &list); err != nil {
			t.Fatal(err)
		}
		if got := pyList(list); got != want {
			t.Errorf("%s: pyList differs:\n got %.200q\nwant %.200q", tt.file, got, want)
		}
	}
}
