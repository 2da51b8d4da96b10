package sim

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// An application's Kubernetes service, as Juju's Kubernetes provider makes it: one ClusterIP address for the
// application, the same for every unit, which is what Juju gives a unit as its ingress-address (in relation
// settings and network-get) on a Kubernetes model; the pod IP is only network-get's bind address
// (apiserver/facades/agent/uniter/networkinfocaas.go ProcessAPIRequest: the unit's machine-local address binds,
// its service addresses are the ingress addresses). The service carries only the ports the charm opened (the
// provider's ensureService ports; Juju puts a placeholder port there when none is open), each forwarded to the
// application's live units in turn. Seen on Juju 4.1-beta2 (docs/JUJU-FIDELITY.md).
type service struct {
	addr string

	mu        sync.Mutex
	listeners map[int]net.Listener
	backends  []string // the live units' pod addresses
	next      int
	closed    bool
}

// maxServicePorts bounds how many ports of an opened range the simulated service listens on.
const maxServicePorts = 64

// ServiceAddress returns the address of the application's Kubernetes service: every unit's ingress-address.
func (a *App) ServiceAddress() string { return a.svc.addr }

// newService returns app a's service, listening on nothing until a unit opens a port.
func newService(a *App) *service {
	return &service{addr: fmt.Sprintf("127.%d.%d.0", a.model.sim.netOctet, a.index), listeners: map[int]net.Listener{}}
}

// syncServiceLocked makes a's service carry the TCP ports its live units opened, forwarded to those units. The
// caller holds s.mu.
func (a *App) syncServiceLocked() {
	want := map[int]bool{}
	var backends []string
	for _, u := range a.units {
		if u.removed {
			continue
		}
		backends = append(backends, u.addr)
		for p := range u.ports {
			for _, n := range tcpPorts(p) {
				want[n] = true
			}
		}
	}
	if a.dying && len(backends) == 0 {
		want = nil
	}
	a.svc.sync(want, backends)
}

// tcpPorts expands "8080/tcp" or "1000-1010/tcp" into port numbers (at most maxServicePorts); other protocols
// give none: the simulator forwards TCP only.
func tcpPorts(p string) []int {
	rng, proto, _ := strings.Cut(p, "/")
	if proto != "tcp" {
		return nil
	}
	from, to, isRange := strings.Cut(rng, "-")
	lo, err := strconv.Atoi(from)
	if err != nil {
		return nil
	}
	hi := lo
	if isRange {
		if hi, err = strconv.Atoi(to); err != nil {
			return nil
		}
	}
	var out []int
	for n := lo; n <= hi && len(out) < maxServicePorts; n++ {
		out = append(out, n)
	}
	return out
}

func (s *service) sync(want map[int]bool, backends []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.backends = backends
	for p, ln := range s.listeners {
		if !want[p] {
			ln.Close()
			delete(s.listeners, p)
		}
	}
	ports := make([]int, 0, len(want))
	for p := range want {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	for _, p := range ports {
		if s.listeners[p] != nil {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(s.addr, strconv.Itoa(p)))
		if err != nil {
			continue // a port another process holds: the service lacks it, as a clash would leave it
		}
		s.listeners[p] = ln
		go s.accept(ln, p)
	}
}

// accept forwards each connection to the next live unit that answers on port p.
func (s *service) accept(ln net.Listener, p int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go s.forward(c, p)
	}
}

func (s *service) forward(c net.Conn, p int) {
	defer c.Close()
	s.mu.Lock()
	backends := append([]string(nil), s.backends...)
	start := s.next
	s.next++
	s.mu.Unlock()
	for i := range backends {
		b, err := net.Dial("tcp", net.JoinHostPort(backends[(start+i)%len(backends)], strconv.Itoa(p)))
		if err != nil {
			continue
		}
		defer b.Close()
		done := make(chan struct{})
		go func() {
			io.Copy(b, c)
			if tc, ok := b.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			close(done)
		}()
		io.Copy(c, b)
		<-done
		return
	}
}

func (s *service) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for p, ln := range s.listeners {
		ln.Close()
		delete(s.listeners, p)
	}
}
