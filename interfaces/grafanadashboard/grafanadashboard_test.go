package grafanadashboard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Golden values computed with Python 3's hashlib and lzma, as the Python provider computes them:
//
//	hashlib.shake_256(b"tls-authority-src/grafana_dashboards/tls-authority.json").hexdigest(20)
//	hashlib.shake_256(b"tls-authority-file:tls-authority").hexdigest(8)
//	base64.b64encode(lzma.compress(json.dumps({"title": "T", "uid": "abc", "version": 3}).encode()))
const (
	goldenUID     = "fb726c5e93c45585708900b7c700c53fd9cb46a4"
	goldenAltUID  = "bb016fccfd9ab1c9"
	pythonContent = "/Td6WFoAAATm1rRGAgAhARYAAAB0L+WjAQApeyJ0aXRsZSI6ICJUIiwgInVpZCI6ICJhYmMiLCAidmVyc2lvbiI6IDN9AAAANKvjwFxoOhMAAUIqelFyOR+2830BAAAAAARZWg=="
)

func TestIDs(t *testing.T) {
	if got := UID("tls-authority", "src/grafana_dashboards/tls-authority.json"); got != goldenUID {
		t.Errorf("UID = %s, want %s", got, goldenUID)
	}
	id := FileID("tls-authority.json")
	if id != "file:tls-authority" {
		t.Errorf("FileID = %s", id)
	}
	if got := AltUID("tls-authority", id); got != goldenAltUID {
		t.Errorf("AltUID = %s, want %s", got, goldenAltUID)
	}
	for name, want := range map[string]string{"a.json.tmpl": "file:a", "b.tmpl": "file:b", "c.json": "file:c"} {
		if got := FileID(name); got != want {
			t.Errorf("FileID(%s) = %s, want %s", name, got, want)
		}
	}
}

func TestDecodePythonContent(t *testing.T) {
	d, err := DecodeTemplate(Template{Charm: "x", Content: pythonContent})
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != "abc" || d.Title != "T" || d.Version != 3 {
		t.Errorf("decoded %+v", d)
	}
}

func TestPrepare(t *testing.T) {
	tests := []struct {
		name, in string
		wantUID  string
		wantTags []any
		wantErr  string
	}{
		{"sets uid and tag", `{"title":"T","tags":["pki"]}`, goldenUID, []any{"pki", "charm: tls-authority"}, ""},
		{"keeps a 40-hex uid", `{"title":"T","uid":"` + strings.Repeat("a", 40) + `"}`, strings.Repeat("a", 40), []any{"charm: tls-authority"}, ""},
		{"replaces a short uid", `{"title":"T","uid":"short"}`, goldenUID, []any{"charm: tls-authority"}, ""},
		{"keeps a charm tag", `{"title":"T","tags":["charm: other"]}`, goldenUID, []any{"charm: other"}, ""},
		{"no title", `{"uid":"x"}`, "", nil, "no title"},
		{"not an object", `[1]`, "", nil, "cannot parse"},
		{"null", `null`, "", nil, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Prepare("tls-authority", "src/grafana_dashboards/tls-authority.json", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			if m["uid"] != tt.wantUID {
				t.Errorf("uid = %v, want %s", m["uid"], tt.wantUID)
			}
			if got, _ := json.Marshal(m["tags"]); string(got) != mustJSON(tt.wantTags) {
				t.Errorf("tags = %s, want %s", got, mustJSON(tt.wantTags))
			}
		})
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestAppBagRoundTrip(t *testing.T) {
	dash := []byte(`{"title":"Inventory","uid":"` + goldenUID + `","version":2,"tags":["charm: tls-authority"]}`)
	content, err := EncodeContent(dash)
	if err != nil {
		t.Fatal(err)
	}
	// The .xz magic: Python's lzma.compress default format, which the consumer's auto-detection reads.
	raw := mustB64(t, content)
	if !bytes.HasPrefix(raw, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) {
		t.Fatalf("content is not an .xz stream: % x", raw[:8])
	}
	uuid := NewUUID()
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(uuid) {
		t.Errorf("uuid %s is not a v4 UUID", uuid)
	}
	in := &AppBag{UUID: uuid, Templates: map[string]Template{"file:tls-authority": {
		Charm: "tls-authority", Content: content, InjectDropdowns: true, AltUID: goldenAltUID,
		JujuTopology: &Topology{Model: "m", ModelUUID: "u", App: "a", Unit: "a/0"}}}}
	bag, err := WriteAppBag(in)
	if err != nil {
		t.Fatal(err)
	}
	// The wire shape COS.md gives, key by key.
	var wire struct {
		Templates map[string]map[string]any `json:"templates"`
		UUID      string                    `json:"uuid"`
	}
	if err := json.Unmarshal([]byte(bag[KeyDashboards]), &wire); err != nil {
		t.Fatal(err)
	}
	if wire.UUID != uuid {
		t.Errorf("uuid = %q, want %q", wire.UUID, uuid)
	}
	tmpl := wire.Templates["file:tls-authority"]
	for _, k := range []string{"charm", "content", "juju_topology", "inject_dropdowns", "dashboard_alt_uid"} {
		if _, ok := tmpl[k]; !ok {
			t.Errorf("template has no %q: %v", k, tmpl)
		}
	}
	got, err := ReadAppBag(bag)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeTemplate(got.Templates["file:tls-authority"])
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != goldenUID || d.Title != "Inventory" || d.Version != 2 || len(d.Tags) != 1 {
		t.Errorf("decoded %+v", d)
	}
	if _, err := WriteAppBag(&AppBag{Templates: map[string]Template{"x": {Charm: "c"}}}); err == nil {
		t.Error("a template without content was written")
	}
	if _, err := ReadAppBag(map[string]string{KeyDashboards: `{"templates":{"x":{"content":"abc"}}}`}); err == nil {
		t.Error("a template without charm was read")
	}
}

// TestPythonDecodesContent decompresses Go's output with Python's lzma, which is what the consumer runs.
func TestPythonDecodesContent(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	dash := `{"title":"T","uid":"x"}`
	content, err := EncodeContent([]byte(dash))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", "import base64,lzma,sys; sys.stdout.write(lzma.decompress(base64.b64decode(sys.argv[1])).decode())", content).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	if string(out) != dash {
		t.Errorf("python decoded %q", out)
	}
}

func TestDecodeContentErrors(t *testing.T) {
	for _, c := range []string{"not base64!", "aGVsbG8=", ""} {
		if _, err := DecodeContent(c); err == nil {
			t.Errorf("DecodeContent(%q) succeeded", c)
		}
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func FuzzReadAppBag(f *testing.F) {
	f.Add(`{"templates":{"file:a":{"charm":"c","content":"` + pythonContent + `"}},"uuid":"u"}`)
	f.Add(`{"templates":{}}`)
	f.Add(`{"templates":{"x":{"charm":"c","content":"/Td6WFoAAA=="}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ReadAppBag(map[string]string{KeyDashboards: s})
		if err != nil {
			return
		}
		for _, tmpl := range b.Templates {
			_, _ = DecodeTemplate(tmpl) // must not panic nor hang
		}
	})
}
