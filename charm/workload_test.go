package charm

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/pebbleconn"
	"github.com/tls-authority/tls-authority/tests/container"
)

func pull(t *testing.T, c *client.Client, p string) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Pull(&client.PullOptions{Path: p, Target: &b}); err != nil {
		t.Fatalf("pull %s: %v", p, err)
	}
	return b.String()
}

// TestSyncPushesWhatChanged runs the file and trust part of a sync against a real Pebble: the first sync pushes
// everything, a steady one nothing, a hook that changed one file pushes that file alone and leaves the trust store,
// a file the charm no longer has is removed, and a manifest of an older charm (one digest of everything) makes it
// push everything again.
func TestSyncPushesWhatChanged(t *testing.T) {
	ctr := container.StartForTest(t, "workload-test", container.Namespace{Hostname: "workload-0"})
	c, err := ctr.Client()
	if err != nil {
		t.Fatal(err)
	}
	root := testPublished(t, "root").CA
	w := &Workload{
		Files:   map[string]string{"ca.pem": root, "inventory.json": "[]", "counts.json": "{}"},
		Private: map[string]string{"tls.key": "key-1"},
		Trust:   map[string]string{"root": root},
	}
	tests := []struct {
		name      string
		change    func()
		files     []string
		pushed    bool
		trustSync bool
	}{
		{"new container", func() {}, []string{"ca.pem", "counts.json", "inventory.json"}, true, true},
		{"steady", func() {}, nil, false, false},
		{"one file changed", func() { w.Files["inventory.json"] = `[{"serial":"1"}]` }, []string{"inventory.json"}, true, false},
		{"private file changed", func() { w.Private["tls.key"] = "key-2" }, nil, true, false},
		{"trust changed", func() { w.Trust["other"] = testPublished(t, "other").CA }, nil, true, true},
		{"a file added", func() { w.Files["crl-old.der"] = "old CRL" }, []string{"crl-old.der"}, true, false},
		{"a file dropped", func() { delete(w.Files, "crl-old.der") }, nil, true, false},
		{"older charm's root-owned key", func() {
			// The charm before the agent ran unprivileged pushed tls.key owned by root, and its manifest's private
			// lines name no owner: the key is pushed again, to the agent's user, and nothing else.
			uid := 0
			if err := c.Push(&client.PushOptions{Source: strings.NewReader(w.Private["tls.key"]), Path: path.Join(DataDir, "tls.key"),
				Permissions: 0o600, UserID: &uid, GroupID: &uid}); err != nil {
				t.Fatal(err)
			}
			old := strings.ReplaceAll(w.manifest(), fmt.Sprintf(":%d", AgentUID), "")
			if err := push(c, manifestPath, old); err != nil {
				t.Fatal(err)
			}
		}, nil, true, false},
		{"older charm's manifest", func() {
			if err := push(c, manifestPath, "0123abcd"); err != nil {
				t.Fatal(err)
			}
		}, []string{"ca.pem", "counts.json", "inventory.json"}, true, true},
	}
	for i, tt := range tests {
		tt.change()
		st := ReadWorkload(c)
		res, err := syncFiles(c, st, w)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(res.Files, tt.files) || res.Pushed != tt.pushed || res.TrustSynced != tt.trustSync {
			t.Errorf("%s: pushed %v (any %v), trust set synced %v; want %v (%v), %v", tt.name, res.Files, res.Pushed, res.TrustSynced,
				tt.files, tt.pushed, tt.trustSync)
		}
		// update-ca-certificates runs only when the installed set changed: for a new container and a new CA.
		if wantRan := i == 0 || tt.name == "trust changed"; res.TrustUpdated != wantRan {
			t.Errorf("%s: update-ca-certificates ran %v, want %v", tt.name, res.TrustUpdated, wantRan)
		}
		for name, content := range w.Files {
			if got := pull(t, c, path.Join(DataDir, name)); got != content {
				t.Errorf("%s: %s holds %q, want %q", tt.name, name, got, content)
			}
		}
		// What the charm dropped is gone from the container; nothing else is removed.
		wantRemoved := map[bool][]string{true: {"crl-old.der"}}[tt.name == "a file dropped"]
		if !slices.Equal(res.Removed, wantRemoved) {
			t.Errorf("%s: removed %v, want %v", tt.name, res.Removed, wantRemoved)
		}
		if _, err := c.ListFiles(&client.ListFilesOptions{Path: path.Join(DataDir, "crl-old.der")}); (err == nil) != (w.Files["crl-old.der"] != "") {
			t.Errorf("%s: crl-old.der in the container %v, in the workload %v", tt.name, err == nil, w.Files["crl-old.der"] != "")
		}
		if got := pull(t, c, path.Join(DataDir, "tls.key")); got != w.Private["tls.key"] {
			t.Errorf("%s: tls.key holds %q", tt.name, got)
		}
		// The serving key is the agent's alone: 0600, owned by the agent's user and group.
		if infos, err := c.ListFiles(&client.ListFilesOptions{Path: path.Join(DataDir, "tls.key"), Itself: true}); err != nil || len(infos) != 1 ||
			infos[0].Mode().Perm() != 0o600 || infos[0].UserID() == nil || *infos[0].UserID() != AgentUID || infos[0].GroupID() == nil || *infos[0].GroupID() != AgentGID {
			t.Errorf("%s: tls.key is %v (%v): want 0600 owned by %d:%d", tt.name, infos, err, AgentUID, AgentGID)
		}
		// A public file is root's, readable by all.
		if infos, err := c.ListFiles(&client.ListFilesOptions{Path: path.Join(DataDir, "ca.pem"), Itself: true}); err != nil || len(infos) != 1 ||
			infos[0].Mode().Perm() != 0o644 || infos[0].UserID() == nil || *infos[0].UserID() != 0 {
			t.Errorf("%s: ca.pem is %v (%v): want 0644 owned by root", tt.name, infos, err)
		}
		if got := pull(t, c, manifestPath); got != w.manifest() {
			t.Errorf("%s: manifest %q, want %q", tt.name, got, w.manifest())
		}
	}
}

// TestReadWorkloadHungPebble: a hook whose container's Pebble accepts and never answers reads the container as not
// ready, with an error that says so, within the client's deadline (and the Pebble client's 5 s of GET retries): the
// hook goes on instead of hanging until Juju kills it.
func TestReadWorkloadHungPebble(t *testing.T) {
	dir, err := os.MkdirTemp("", "hung-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, Container), 0o755)
	ln, err := net.Listen("unix", pebbleconn.Socket(dir, Container))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	c, err := pebbleconn.ConnectWithin(dir, Container, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st := ReadWorkload(c)
	if took := time.Since(start); took > 7*time.Second {
		t.Fatalf("ReadWorkload took %v on a hung Pebble", took)
	}
	if !errors.Is(st.err, ErrContainerNotReady) || !strings.Contains(st.err.Error(), "cannot pull "+manifestPath+": Pebble did not answer within 300ms") {
		t.Fatalf("ReadWorkload on a hung Pebble: %v", st.err)
	}
}
