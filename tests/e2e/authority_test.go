// Package e2e runs the packed tls-authority charm on the model simulator with real Pebble containers, and checks
// what operators and requirers see: statuses, action results, databags, what the agents serve, and the containers'
// trust stores.
package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// TestFoundation is issue 3's acceptance: three units, one CA created by the leader, every unit Active and serving
// that CA; a leader change keeps it; an invalid config blocks and changes nothing.
func TestFoundation(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	app := deployAuthority(t, m, "tls-authority", 3, nil)
	settle(t, s)

	units := app.Units()
	if len(units) != 3 {
		t.Fatalf("%d units", len(units))
	}
	for _, u := range units {
		if st := u.Status(); st.Status != "active" || !strings.HasPrefix(st.Message, "issued 0, outstanding 0, CA expires ") {
			t.Fatalf("%s status = %+v", u.Name(), st)
		}
	}
	caPEM := action(t, units[0], "get-ca-certificate", nil).Results["ca-certificate"].(string)
	ca := parseCert(t, caPEM)
	if !ca.IsCA || ca.Subject.CommonName != "self-signed-certificates-operator" {
		t.Fatalf("CA = %v (IsCA %v)", ca.Subject, ca.IsCA)
	}
	if out := openssl(t, caPEM, "x509", "-noout", "-subject"); !strings.Contains(out, "self-signed-certificates-operator") {
		t.Fatalf("openssl x509: %s", out)
	}
	for _, u := range units {
		if got := action(t, u, "get-ca-certificate", nil).Results["ca-certificate"]; got != caPEM {
			t.Errorf("%s returns another CA", u.Name())
		}
		served := httpGet(t, fmt.Sprintf("http://%s:8080/ca.pem", u.Address()))
		if strings.TrimSpace(string(served)) != caPEM {
			t.Errorf("%s agent serves %q, want the CA", u.Name(), served)
		}
		if h := httpGet(t, fmt.Sprintf("http://%s:8080/healthz", u.Address())); !strings.Contains(string(h), "ok") {
			t.Errorf("%s healthz = %q", u.Name(), h)
		}
		// The CA is in the container's trust store, built by the real update-ca-certificates.
		bundle := readContainerFile(t, u, "/etc/ssl/certs/ca-certificates.crt")
		if !strings.Contains(bundle, strings.Split(caPEM, "\n")[1]) {
			t.Errorf("%s trust store lacks the CA", u.Name())
		}
	}

	// A steady round of hooks runs update-ca-certificates nowhere: the bundle it writes keeps its modification time.
	before := map[string]time.Time{}
	for _, u := range units {
		before[u.Name()] = containerMTime(t, u, "/etc/ssl/certs/ca-certificates.crt")
	}
	s.UpdateStatus()
	settle(t, s)
	for _, u := range units {
		if after := containerMTime(t, u, "/etc/ssl/certs/ca-certificates.crt"); !after.Equal(before[u.Name()]) {
			t.Errorf("%s: update-ca-certificates ran in a hook where the CA set did not change", u.Name())
		}
	}

	// A leader change keeps the CA: it is in the application's secret and the peer databag.
	old := app.Leader()
	var next *sim.Unit
	for _, u := range units {
		if u != old {
			next = u
			break
		}
	}
	if err := m.SetLeader(next.Name()); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	for _, u := range units {
		if got := action(t, u, "get-ca-certificate", nil).Results["ca-certificate"]; got != caPEM {
			t.Fatalf("after the leader change %s returns another CA", u.Name())
		}
		if st := u.Status(); st.Status != "active" {
			t.Fatalf("after the leader change %s status = %+v", u.Name(), st)
		}
	}

	// Invalid config: Blocked, naming the option, and the CA unchanged.
	if err := app.SetConfig(map[string]any{"certificate-validity": "ninety"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	for _, u := range units {
		st := u.Status()
		if st.Status != "blocked" || !strings.Contains(st.Message, "certificate-validity") {
			t.Fatalf("%s status = %+v, want blocked naming certificate-validity", u.Name(), st)
		}
		if got := action(t, u, "get-ca-certificate", nil).Results["ca-certificate"]; got != caPEM {
			t.Fatalf("invalid config changed the CA on %s", u.Name())
		}
	}
	if err := app.SetConfig(map[string]any{"certificate-validity": ""}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	for _, u := range units {
		if st := u.Status(); st.Status != "active" {
			t.Fatalf("after fixing config %s status = %+v", u.Name(), st)
		}
	}
}

// readContainerFile reads a file of a unit's workload container through Pebble.
func readContainerFile(t testing.TB, u *sim.Unit, path string) string {
	t.Helper()
	c := u.Container("authority")
	if c == nil {
		t.Fatalf("%s has no authority container", u.Name())
	}
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := cl.Pull(&client.PullOptions{Path: path, Target: &b}); err != nil {
		t.Fatalf("pull %s from %s: %v", path, u.Name(), err)
	}
	return b.String()
}

// containerMTime is a container file's modification time, through Pebble.
func containerMTime(t testing.TB, u *sim.Unit, path string) time.Time {
	t.Helper()
	cl, err := u.Container("authority").Client()
	if err != nil {
		t.Fatal(err)
	}
	infos, err := cl.ListFiles(&client.ListFilesOptions{Path: path, Itself: true})
	if err != nil || len(infos) != 1 {
		t.Fatalf("stat %s on %s: %v", path, u.Name(), err)
	}
	return infos[0].ModTime()
}
