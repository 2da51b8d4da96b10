package sim_test

import (
	"bufio"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestServiceCarriesOpenedPorts: on Kubernetes, the application's service address (every unit's ingress address)
// reaches the units on the ports the charm opened, and on no other (seen on Juju 4.1-beta2: the Kubernetes
// provider's service lists the opened ports only). Each unit's workload here is a listener on its pod address that
// answers with the unit's name.
func TestServiceCarriesOpenedPorts(t *testing.T) {
	s, m, _ := twoApps(t, 2, 1)
	a := m.App("a")
	svc := a.ServiceAddress()
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	ln, err := net.Listen("tcp", net.JoinHostPort(a0.Address(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	for _, u := range []interface{ Address() string }{a0, a1} {
		ln, err := net.Listen("tcp", net.JoinHostPort(u.Address(), port))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		name := u.Address()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(name + "\n"))
				c.Close()
			}
		}()
	}
	ask := func() (string, error) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(svc, port), time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		return bufio.NewReader(c).ReadString('\n')
	}
	if got, err := ask(); err == nil {
		t.Fatalf("the service answered on a port no unit opened: %q", got)
	}
	sh(t, a0, "open-port "+port)
	settle(t, s)
	seen := map[string]bool{}
	for range 4 {
		got, err := ask()
		if err != nil {
			t.Fatalf("the service does not carry the opened port %s: %v", port, err)
		}
		seen[got[:len(got)-1]] = true
	}
	if !seen[a0.Address()] || !seen[a1.Address()] {
		t.Errorf("the service reached %v, want both units' pods", seen)
	}
	sh(t, a0, "close-port "+port)
	settle(t, s)
	if got, err := ask(); err == nil {
		t.Fatalf("the service still answers on the closed port: %q", got)
	}
}
