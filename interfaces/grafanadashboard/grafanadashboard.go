// Package grafanadashboard holds the wire format of the grafana_dashboard interface (the Python library
// grafana_dashboard v0, LIBPATCH 48): the provider's application databag key "dashboards", each dashboard's
// content (JSON, xz compressed, standard base64), and what the provider does to a dashboard file before sending it
// (uid from the charm and file path, a "charm: <name>" tag). It makes no hook-tool call: every function is pure, so
// the parsers can be fuzzed.
package grafanadashboard

import (
	"bytes"
	"crypto/rand"
	"crypto/sha3"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/ulikunitz/xz"
)

// KeyDashboards is the provider's application databag key.
const KeyDashboards = "dashboards"

// DashboardsDir is where the Python provider reads dashboard files, relative to the charm directory.
const DashboardsDir = "src/grafana_dashboards"

// DashboardExtensions are the file name endings the provider reads as dashboards.
var DashboardExtensions = []string{".json", ".json.tmpl", ".tmpl"}

// Topology is a template's juju_topology.
type Topology struct {
	Model     string `json:"model"`
	ModelUUID string `json:"model_uuid"`
	App       string `json:"application"`
	Unit      string `json:"unit"`
}

// Template is one dashboard in the databag. Charm and Content are required.
type Template struct {
	Charm           string    `json:"charm"`
	Content         string    `json:"content"`
	JujuTopology    *Topology `json:"juju_topology,omitempty"`
	InjectDropdowns bool      `json:"inject_dropdowns"`
	AltUID          string    `json:"dashboard_alt_uid,omitempty"`
}

// AppBag is the value of KeyDashboards. UUID is fresh on every write, so that the consumer sees a change.
type AppBag struct {
	Templates map[string]Template `json:"templates"`
	UUID      string              `json:"uuid"`
}

// FileID is a dashboard's template id from its file name: "file:<stem>".
func FileID(fileName string) string {
	stem := fileName
	for _, ext := range DashboardExtensions {
		if s, ok := strings.CutSuffix(fileName, ext); ok {
			stem = s
			break
		}
	}
	return "file:" + stem
}

// IsDashboardFile tells whether the provider reads a file of this name as a dashboard.
func IsDashboardFile(name string) bool {
	for _, ext := range DashboardExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func shake(s string, n int) string {
	return hex.EncodeToString(sha3.SumSHAKE256([]byte(s), n))
}

// UID is the uid the provider gives a dashboard file: shake_256("<charm>-<path relative to the charm dir>"), 20
// bytes in hex.
func UID(charm, relPath string) string { return shake(charm+"-"+relPath, 20) }

// AltUID is dashboard_alt_uid: shake_256("<charm>-<template id>"), 8 bytes in hex.
func AltUID(charm, id string) string { return shake(charm+"-"+id, 8) }

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Prepare does to a dashboard file what the provider does before compressing it: it sets uid (unless the file has
// a 40-hex one) and adds the tag "charm: <name>" unless a tag starts with "charm: ". It needs a JSON object with a
// title; the result is JSON with sorted keys.
func Prepare(charm, relPath string, data []byte) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("cannot parse dashboard %s: %w", relPath, err)
	}
	if d == nil {
		return nil, fmt.Errorf("cannot use dashboard %s: not a JSON object", relPath)
	}
	if t, _ := d["title"].(string); t == "" {
		return nil, fmt.Errorf("cannot use dashboard %s: it has no title", relPath)
	}
	if uid, _ := d["uid"].(string); !hex40.MatchString(uid) {
		d["uid"] = UID(charm, relPath)
	}
	tags, _ := d["tags"].([]any)
	tagged := false
	for _, t := range tags {
		if s, _ := t.(string); strings.HasPrefix(s, "charm: ") {
			tagged = true
		}
	}
	if !tagged {
		d["tags"] = append(tags, "charm: "+charm)
	}
	return json.Marshal(d)
}

// EncodeContent compresses a dashboard as Python's lzma.compress does by default (.xz container, CRC64) and
// encodes it in standard padded base64.
func EncodeContent(dashboard []byte) (string, error) {
	var buf bytes.Buffer
	w, err := xz.WriterConfig{CheckSum: xz.CRC64}.NewWriter(&buf)
	if err != nil {
		return "", fmt.Errorf("cannot compress dashboard: %w", err)
	}
	if _, err := w.Write(dashboard); err != nil {
		return "", fmt.Errorf("cannot compress dashboard: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("cannot compress dashboard: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// maxDashboard bounds a decompressed dashboard, so a small hostile value cannot expand without limit.
const maxDashboard = 64 << 20

// DecodeContent reverses EncodeContent: base64, then xz.
func DecodeContent(content string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(content)
	if err != nil {
		return nil, fmt.Errorf("cannot decode dashboard content: %w", err)
	}
	r, err := xz.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("cannot decompress dashboard content: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDashboard+1))
	if err != nil {
		return nil, fmt.Errorf("cannot decompress dashboard content: %w", err)
	}
	if len(out) > maxDashboard {
		return nil, errors.New("cannot decompress dashboard content: larger than 64 MiB")
	}
	return out, nil
}

// NewUUID is a random v4 UUID, for AppBag.UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// WriteAppBag encodes the databag value.
func WriteAppBag(b *AppBag) (map[string]string, error) {
	for id, t := range b.Templates {
		if t.Charm == "" || t.Content == "" {
			return nil, fmt.Errorf("cannot write dashboard %s: charm and content are required", id)
		}
	}
	v, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("cannot encode dashboards: %w", err)
	}
	return map[string]string{KeyDashboards: string(v)}, nil
}

// ReadAppBag decodes a provider's databag as a consumer does; a template without charm or content is an error.
func ReadAppBag(bag map[string]string) (*AppBag, error) {
	s, ok := bag[KeyDashboards]
	if !ok {
		return &AppBag{Templates: map[string]Template{}}, nil
	}
	var b AppBag
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", KeyDashboards, err)
	}
	for id, t := range b.Templates {
		if t.Charm == "" || t.Content == "" {
			return nil, fmt.Errorf("cannot use dashboard %s: charm and content are required", id)
		}
	}
	return &b, nil
}

// Dashboard is a decoded template's dashboard: what Grafana keys it by.
type Dashboard struct {
	UID     string
	Title   string
	Version int
	Tags    []string
	JSON    map[string]any
}

// DecodeTemplate decodes a template's content into its dashboard.
func DecodeTemplate(t Template) (*Dashboard, error) {
	raw, err := DecodeContent(t.Content)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("cannot parse dashboard JSON: %w", err)
	}
	if m == nil {
		return nil, errors.New("cannot use dashboard: not a JSON object")
	}
	d := &Dashboard{JSON: m}
	d.UID, _ = m["uid"].(string)
	d.Title, _ = m["title"].(string)
	if v, ok := m["version"].(float64); ok {
		d.Version = int(v)
	}
	if tags, ok := m["tags"].([]any); ok {
		for _, t := range tags {
			if s, ok := t.(string); ok {
				d.Tags = append(d.Tags, s)
			}
		}
	}
	return d, nil
}
