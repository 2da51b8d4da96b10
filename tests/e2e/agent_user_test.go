package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"
	"gopkg.in/yaml.v3"

	"github.com/tls-authority/tls-authority/charm"
	"github.com/tls-authority/tls-authority/tests/container"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// agentIDs finds the agent's process in a unit's authority container (its PID namespace) and returns its real,
// effective, saved and filesystem uids and gids, from /proc/<pid>/status.
func agentIDs(t *testing.T, u *sim.Unit) (uids, gids []int) {
	t.Helper()
	ctr := u.Container(charm.Container)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, pid := range container.NamespaceProcesses(ctr.MountNamespace()) {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !strings.HasPrefix(string(cmdline), charm.AgentBinary+"\x00") {
				continue
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				field, rest, _ := strings.Cut(line, ":")
				if field != "Uid" && field != "Gid" {
					continue
				}
				var ids []int
				for _, f := range strings.Fields(rest) {
					n, _ := strconv.Atoi(f)
					ids = append(ids, n)
				}
				if field == "Uid" {
					uids = ids
				} else {
					gids = ids
				}
			}
			return uids, gids
		}
	}
	t.Fatalf("%s: no agent process in its container", u.Name())
	return nil, nil
}

// keyOwner is the mode and owner of the agent's serving key, through Pebble.
func keyOwner(t *testing.T, cl *client.Client) (os.FileMode, int, int) {
	t.Helper()
	infos, err := cl.ListFiles(&client.ListFilesOptions{Path: charm.DataDir + "/tls.key", Itself: true})
	if err != nil || len(infos) != 1 || infos[0].UserID() == nil || infos[0].GroupID() == nil {
		t.Fatalf("stat tls.key: %v %v", infos, err)
	}
	return infos[0].Mode().Perm(), *infos[0].UserID(), *infos[0].GroupID()
}

// TestAgentRunsUnprivileged: the agent runs as the rock's user (_daemon_, uid and gid 584792), not root, and still
// serves /ca.pem over HTTP and over TLS with the unit's serving certificate, whose key is 0600 and the agent's. A
// unit whose agent an older charm started as root, with the key owned by root, is moved over by its next hook: the
// key is pushed again to the agent's user and the agent is replanned.
func TestAgentRunsUnprivileged(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	app := deployAuthority(t, m, "tls-authority", 1, nil)
	settle(t, s)
	u := app.Units()[0]
	caPEM := action(t, u, "get-ca-certificate", nil).Results["ca-certificate"].(string)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		t.Fatal("no CA")
	}
	cl, err := u.Container(charm.Container).Client()
	if err != nil {
		t.Fatal(err)
	}
	serves := func(when string) {
		t.Helper()
		if got := strings.TrimSpace(string(httpGet(t, fmt.Sprintf("http://%s:%d/ca.pem", u.Address(), charm.AgentPort)))); got != caPEM {
			t.Fatalf("%s: /ca.pem over HTTP is %q", when, got)
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		var resp *http.Response
		var err error
		// Pebble restarts the agent on a replan: give it a moment to listen again.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err = hc.Get("https://" + net.JoinHostPort(u.Address(), strconv.Itoa(charm.AgentTLSPort)) + "/ca.pem")
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s: /ca.pem over TLS under the CA: %v", when, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(body)) != caPEM {
			t.Fatalf("%s: /ca.pem over TLS is %q", when, body)
		}
	}
	unprivileged := func(when string) {
		t.Helper()
		uids, gids := agentIDs(t, u)
		for _, id := range append(uids, gids...) {
			if id != charm.AgentUID {
				t.Fatalf("%s: the agent runs as uids %v gids %v, want %d throughout", when, uids, gids, charm.AgentUID)
			}
		}
		if mode, uid, gid := keyOwner(t, cl); mode != 0o600 || uid != charm.AgentUID || gid != charm.AgentGID {
			t.Fatalf("%s: tls.key is %v owned by %d:%d, want 0600 owned by %d:%d", when, mode, uid, gid, charm.AgentUID, charm.AgentGID)
		}
		serves(when)
	}
	unprivileged("after deployment")

	// An older charm's unit: its layer runs the agent with no user (as root, Pebble's), its tls.key is root's and
	// its manifest's private lines name no owner.
	planData, err := cl.PlanBytes(nil)
	if err != nil {
		t.Fatal(err)
	}
	var plan map[string]any
	if err := yaml.Unmarshal(planData, &plan); err != nil {
		t.Fatal(err)
	}
	svc := plan["services"].(map[string]any)["agent"].(map[string]any)
	delete(svc, "user-id")
	delete(svc, "group-id")
	svc["override"] = "replace"
	old, err := yaml.Marshal(map[string]any{"services": map[string]any{"agent": svc}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.AddLayer(&client.AddLayerOptions{Combine: true, Label: "tls-authority", LayerData: old}); err != nil {
		t.Fatal(err)
	}
	id, err := cl.Replan(&client.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.WaitChange(id, &client.WaitChangeOptions{Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	key := readContainerFile(t, u, charm.DataDir+"/tls.key")
	root := 0
	if err := cl.Push(&client.PushOptions{Path: charm.DataDir + "/tls.key", Source: strings.NewReader(key), Permissions: 0o600, UserID: &root, GroupID: &root}); err != nil {
		t.Fatal(err)
	}
	manifest := strings.ReplaceAll(readContainerFile(t, u, charm.DataDir+"/.manifest"), fmt.Sprintf(":%d", charm.AgentUID), "")
	if err := cl.Push(&client.PushOptions{Path: charm.DataDir + "/.manifest", Source: strings.NewReader(manifest), Permissions: 0o644}); err != nil {
		t.Fatal(err)
	}
	if uids, _ := agentIDs(t, u); uids[1] != 0 {
		t.Fatalf("the older layer's agent runs as %v, want root", uids)
	}
	serves("under the older charm's layer")

	s.UpdateStatus()
	settle(t, s)
	unprivileged("after the next hook")
}
