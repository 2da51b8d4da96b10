package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/rpc/params"
)

// TestUnitAndAppModes: tls-authority with 3 units and the reference requirer in UNIT and APP modes; every requirer
// unit is Active with a certificate openssl verifies against get-ca-certificate, naming its unit's (UNIT) or its
// application's (APP) service, and serves it in a handshake made from a pod of the other application.
func TestUnitAndAppModes(t *testing.T) {
	s := setup(t, 40*time.Minute)
	m := s.model("modes")
	s.authority(m, "tls-authority", 3, nil)
	s.requirer(m, "req-unit", 2, "unit", nil)
	s.requirer(m, "req-app", 2, "app", nil)
	s.integrate(m, "req-unit:certificates", "tls-authority:certificates")
	s.integrate(m, "req-app:certificates", "tls-authority:certificates")
	s.settle(m)

	ca := s.ca(m, "tls-authority")
	for _, r := range []struct{ app, scope, other string }{{"req-unit", "unit", "req-app"}, {"req-app", "app", "req-unit"}} {
		client := s.units(m, r.other)[0]
		for _, u := range s.units(m, r.app) {
			name := unitFQDN(u, m.Name)
			if r.scope == "app" {
				name = appFQDN(r.app, m.Name)
			}
			c := s.certificate(m, u, r.scope, ca)
			s.verify(ca, c, name)
			s.handshakeFromPod(m, client, s.address(m, u), name, ca)
		}
	}
}

// TestCertificateTransfer: certificate_transfer both ways. tls-authority receives another authority's CA on
// receive-ca-cert (installed in its workload container by update-ca-certificates, run through Pebble) and, with
// forward-received-cas, sends it on with its own on send-ca-cert to a requirer, whose server container's trust store
// then holds both and verifies the requirer's own certificate.
func TestCertificateTransfer(t *testing.T) {
	s := setup(t, 30*time.Minute)
	m := s.model("transfer")
	s.authority(m, "tls-authority", 1, map[string]string{"forward-received-cas": "true"})
	s.authority(m, "other-ca", 1, nil)
	s.requirer(m, "req", 1, "unit", nil)
	s.integrate(m, "tls-authority:receive-ca-cert", "other-ca:send-ca-cert")
	s.integrate(m, "req:certificates", "tls-authority:certificates")
	s.integrate(m, "req:receive-ca-cert", "tls-authority:send-ca-cert")
	s.settle(m)

	ca, other := s.ca(m, "tls-authority"), s.ca(m, "other-ca")
	bundle := "/etc/ssl/certs/ca-certificates.crt"
	if got := s.exec(m, "tls-authority/0", "authority", "cat "+bundle); !contains(got, other) {
		t.Errorf("tls-authority/0's container trust store (%s) lacks other-ca's CA", bundle)
	}
	got := s.exec(m, "req/0", "server", "cat "+bundle)
	for name, want := range map[string]string{"tls-authority": ca, "other-ca (forwarded)": other} {
		if !contains(got, want) {
			t.Errorf("req/0's container trust store (%s) lacks %s's CA", bundle, name)
		}
	}
	// The container's own store (no CA file given) verifies the requirer's certificate.
	s.certificate(m, "req/0", "unit", ca)
	s.handshakeFromPod(m, "req/0", s.address(m, "req/0"), unitFQDN("req/0", m.Name), "")
}

// TestRotationHandshakeLoop: a client pod, trusting only its container's trust store (filled over
// certificate_transfer), makes a handshake every second with a UNIT-mode server while rotate-private-key replaces
// the CA: 0 handshakes fail, and the loop sees both the certificate before the rotation and the one after it.
func TestRotationHandshakeLoop(t *testing.T) {
	s := setup(t, 40*time.Minute)
	m := s.model("rotation")
	s.authority(m, "tls-authority", 3, nil)
	s.requirer(m, "srv", 1, "unit", nil)
	s.requirer(m, "cli", 1, "unit", nil)
	s.integrate(m, "srv:certificates", "tls-authority:certificates")
	s.integrate(m, "cli:certificates", "tls-authority:certificates")
	s.integrate(m, "cli:receive-ca-cert", "tls-authority:send-ca-cert")
	s.settle(m)
	ca := s.ca(m, "tls-authority")
	s.certificate(m, "srv/0", "unit", ca)

	stop := s.startHandshakeLoop(m, "cli/0", s.address(m, "srv/0"), unitFQDN("srv/0", m.Name))
	time.Sleep(15 * time.Second)
	if _, err := m.RunAction(s.ctx, s.leaderOf(m, "tls-authority"), "rotate-private-key", nil); err != nil {
		t.Fatal(err)
	}
	rotated := s.waitNewCA(m, ca)
	s.certificate(m, "srv/0", "unit", rotated)
	s.settle(m)
	time.Sleep(20 * time.Second)
	ok, failed, serials := stop()
	t.Logf("handshakes through the rotation: %d ok, %d failed, %d server certificates seen", ok, len(failed), len(serials))
	if len(failed) > 0 {
		t.Errorf("%d handshakes failed through the rotation:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	if ok < 20 || len(serials) < 2 {
		t.Errorf("the loop made %d handshakes and saw %d server certificates: it did not span the rotation", ok, len(serials))
	}
}

// startHandshakeLoop runs, as a Pebble service of client's server container (so no juju exec holds the unit's
// hook lock meanwhile), an openssl handshake with addr every second, trusting the container's trust store bundle;
// stop ends it and returns the successes, the failures, and the distinct server certificate serials seen.
func (s *suite) startHandshakeLoop(m *Model, client, addr, serverName string) (stop func() (ok int, failed []string, serials map[string]bool)) {
	s.t.Helper()
	script := fmt.Sprintf(`while [ ! -e /tmp/hsloop.stop ]; do
  if out=$(echo | timeout 10 openssl s_client -verify_return_error -CAfile /etc/ssl/certs/ca-certificates.crt -servername %s -connect %s:8443 2>&1); then
    echo "ok $(printf '%%s\n' "$out" | openssl x509 -noout -serial)"
  else
    echo "FAIL $(date -u +%%T) $(printf '%%s\n' "$out" | grep -i -m2 'error\|verify return' | tr '\n' ' ')"
  fi >>/tmp/hsloop.log
  sleep 1
done
`, serverName, addr)
	s.exec(m, client, "server", "rm -f /tmp/hsloop.stop /tmp/hsloop.log && printf '%s' "+shellQuote(script)+" > /tmp/hsloop.sh")
	layer := `services:
  it-handshakes:
    override: replace
    startup: disabled
    command: /bin/sh /tmp/hsloop.sh
    on-success: ignore
    on-failure: ignore
`
	p := pebbleCmd("server")
	cmd := fmt.Sprintf("printf '%%s' %s > /tmp/it-hsloop.yaml && %s add it-hsloop /tmp/it-hsloop.yaml && %s start it-handshakes",
		shellQuote(layer), p, p)
	if code, out, errOut, err := m.Exec(s.ctx, client, "", cmd, time.Minute); err != nil || code != 0 {
		s.t.Fatalf("cannot start the handshake loop in %s: exit %d %v\n%s%s", client, code, err, out, errOut)
	}
	return func() (int, []string, map[string]bool) {
		s.t.Helper()
		s.exec(m, client, "server", "touch /tmp/hsloop.stop && sleep 3")
		log := s.exec(m, client, "server", "cat /tmp/hsloop.log")
		ok, failed, serials := 0, []string(nil), map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
			switch {
			case strings.HasPrefix(line, "ok "):
				ok++
				serials[strings.TrimPrefix(line, "ok ")] = true
			case line != "":
				failed = append(failed, line)
			}
		}
		return ok, failed, serials
	}
}

// waitNewCA waits until the leader's get-ca-certificate answers a CA other than old.
func (s *suite) waitNewCA(m *Model, old string) string {
	s.t.Helper()
	for {
		if ca := s.ca(m, "tls-authority"); ca != old {
			return ca
		}
		// A failed hook stops the rotation: say so now rather than at the deadline.
		if st, err := m.Status(s.ctx); err == nil {
			if _, why := activeIdle(st); strings.HasPrefix(why, "error:") {
				s.t.Fatalf("the CA did not change after rotate-private-key: %s", why)
			}
		}
		select {
		case <-s.ctx.Done():
			s.t.Fatal("the CA did not change after rotate-private-key")
		case <-time.After(5 * time.Second):
		}
	}
}

// TestCASecretAcrossRotation: after rotate-private-key, every unit, leader and non-leaders, answers the new CA,
// every agent serves it in /ca.pem (with the old one, for the overlap); then leadership moves to a non-leader
// (the leader scaled away), which reads the rotated CA secret and signs a new requirer unit's certificate under
// the new CA.
func TestCASecretAcrossRotation(t *testing.T) {
	s := setup(t, 45*time.Minute)
	m := s.model("secret")
	s.authority(m, "tls-authority", 3, nil)
	s.requirer(m, "req", 1, "unit", nil)
	s.integrate(m, "req:certificates", "tls-authority:certificates")
	s.settle(m)
	old := s.ca(m, "tls-authority")
	leader := s.leaderOf(m, "tls-authority")
	if _, err := m.RunAction(s.ctx, leader, "rotate-private-key", nil); err != nil {
		t.Fatal(err)
	}
	rotated := s.waitNewCA(m, old)
	s.certificate(m, "req/0", "unit", rotated)
	s.settle(m)
	for _, u := range s.units(m, "tls-authority") {
		if got := s.caOn(m, u); got != rotated {
			t.Errorf("%s (leader %v) answers a CA other than the rotated one", u, u == leader)
		}
		bundle := s.agentCA(m, u)
		if !contains(bundle, rotated) || !contains(bundle, old) {
			t.Errorf("%s's agent /ca.pem holds the new CA %v and the old one %v, want both (the overlap)", u, contains(bundle, rotated), contains(bundle, old))
		}
	}

	newLeader := s.removeLeader(m, "tls-authority", leader)
	t.Logf("leader %s removed, %s leads", leader, newLeader)
	if got := s.ca(m, "tls-authority"); got != rotated {
		t.Fatal("the new leader answers a CA other than the rotated one")
	}
	if err := m.Scale(s.ctx, "req", 2); err != nil {
		t.Fatal(err)
	}
	s.settle(m)
	c := s.certificate(m, "req/1", "unit", rotated)
	s.verify(rotated, c, unitFQDN("req/1", m.Name))
}

// removeLeader removes app's leader. Juju refuses to remove a named unit on Kubernetes (apiserver application
// facade DestroyUnit: "removing units on a non-container model"), and scaling down removes the highest-numbered
// units first: so the units above the leader go, then the leader. It waits until another unit leads, and returns it.
func (s *suite) removeLeader(m *Model, app, leader string) string {
	s.t.Helper()
	unitNames := s.units(m, app)
	var keep int
	for i, u := range unitNames {
		if u == leader {
			keep = i
		}
	}
	// Scale unit by unit so that the last scale-down is the leader's alone.
	for n := len(unitNames) - 1; n >= keep; n-- {
		if err := m.Scale(s.ctx, app, n); err != nil {
			s.t.Fatal(err)
		}
		want := n
		err := m.WaitFor(s.ctx, func(st *params.FullStatus) (bool, string) {
			if got := len(st.Applications[app].Units); got != want {
				return false, fmt.Sprintf("%s has %d units, want %d", app, got, want)
			}
			return true, ""
		})
		if err != nil {
			s.t.Fatal(err)
		}
	}
	s.t.Logf("%s: scaled down to %d units to remove the leader %s", app, keep, leader)
	if err := m.Scale(s.ctx, app, len(unitNames)); err != nil {
		s.t.Fatal(err)
	}
	s.settle(m)
	return s.leaderOf(m, app)
}

// TestLeaderRemoved: the leader unit removed and the application scaled back: the CA and each agent's /ca.pem
// unchanged, and the new leader signs (a new requirer unit gets a certificate under the same CA).
func TestLeaderRemoved(t *testing.T) {
	s := setup(t, 40*time.Minute)
	m := s.model("leader")
	s.authority(m, "tls-authority", 3, nil)
	s.requirer(m, "req", 1, "unit", nil)
	s.integrate(m, "req:certificates", "tls-authority:certificates")
	s.settle(m)
	ca := s.ca(m, "tls-authority")
	leader := s.leaderOf(m, "tls-authority")
	served := s.agentCA(m, leader)

	newLeader := s.removeLeader(m, "tls-authority", leader)
	t.Logf("leader %s removed, %s leads", leader, newLeader)
	if got := s.ca(m, "tls-authority"); got != ca {
		t.Error("the CA changed when the leader was removed")
	}
	for _, u := range s.units(m, "tls-authority") {
		if got := s.agentCA(m, u); got != served {
			t.Errorf("%s's agent serves a /ca.pem other than before the leader left:\n%s\nwas:\n%s", u, got, served)
		}
	}
	if err := m.Scale(s.ctx, "req", 2); err != nil {
		t.Fatal(err)
	}
	s.settle(m)
	for _, u := range s.units(m, "req") {
		s.verify(ca, s.certificate(m, u, "unit", ca), unitFQDN(u, m.Name))
	}
}
