package e2e

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// TestCAKeyNeverLeaks checks that the CA private key is only in its Juju secret: not in the final state JSON
// (relation data, statuses, action results, secret metadata), not in any hook's output or logs, not in action
// results, and nowhere in any container's files (workload and charm container) — across creation, actions, a
// leader change and a rotation.
func TestCAKeyNeverLeaks(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	app := deployAuthority(t, m, "tls-authority", 2, nil)
	settle(t, s)
	var results []*sim.ActionResult
	for _, u := range app.Units() {
		for _, a := range []string{"get-ca-certificate", "get-issued-certificates", "get-crl"} {
			res, err := u.RunAction(a, nil)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, res)
		}
	}
	results = append(results, action(t, app.Leader(), "rotate-private-key", nil))
	settle(t, s)
	s.UpdateStatus() // phase 2 of the rotation: the new CA signs
	settle(t, s)

	keys := caKeys(t, s, m, app)
	if len(keys) < 2 {
		t.Fatalf("found %d CA keys in secrets, want the current and the previous one", len(keys))
	}
	// Any 48-character run of a key's base64 would betray it; so would the whole PEM.
	var needles [][]byte
	for _, k := range keys {
		for _, line := range strings.Split(k, "\n") {
			if len(line) >= 48 && !strings.HasPrefix(line, "-----") {
				needles = append(needles, []byte(line[:48]))
			}
		}
	}
	check := func(where string, data []byte) {
		for _, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("CA private key material found in %s", where)
				return
			}
		}
	}
	state, err := json.Marshal(s.State())
	if err != nil {
		t.Fatal(err)
	}
	check("the final state JSON", state)
	if !bytes.Contains(state, []byte("tls-authority-ca")) {
		t.Error("the state JSON lists no CA secret metadata: the scan looked at the wrong thing")
	}
	for _, r := range s.Records() {
		b, _ := json.Marshal(r)
		check("the record of "+r.Name, b)
	}
	for _, r := range results {
		b, _ := json.Marshal(r)
		check("the result of action "+r.Name, b)
	}
	scanned := 0
	for _, u := range app.Units() {
		roots := []string{u.Container("authority").Rootfs(), filepath.Join(u.Dir(), "charm-container"), u.CharmDir()}
		for _, root := range roots {
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || !d.Type().IsRegular() {
					return nil
				}
				b, err := os.ReadFile(p)
				if err == nil {
					scanned++
					check(p, b)
				}
				return nil
			})
		}
	}
	if scanned < 10 {
		t.Fatalf("scanned only %d files: the container paths are wrong", scanned)
	}
}

// caKeys returns the private keys in the authority's secrets, found through the URIs the charm publishes in its
// peer databag.
func caKeys(t *testing.T, s *sim.Sim, m *sim.Model, app *sim.App) []string {
	t.Helper()
	var keys []string
	for _, r := range m.Relations() {
		if len(r.Endpoints()) != 1 { // the peer relation has one end
			continue
		}
		bag := r.AppData(app.Name())
		for _, k := range []string{"ca-secret", "previous-secret"} {
			if bag[k] == "" {
				continue
			}
			content, err := s.SecretContentForTest(bag[k], 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{"private-key", "next-private-key"} {
				if content[field] != "" {
					keys = append(keys, content[field])
				}
			}
		}
	}
	return keys
}
