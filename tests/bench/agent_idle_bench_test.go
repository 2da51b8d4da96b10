package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/agent"
)

// Idle keep-alive connections (issue #18): how much of the agent they hold, and that the idle timeout gives it back.
const (
	idleConns   = 5000
	idleTimeout = 3 * time.Second // the agent's -idle-timeout here: short, so the benchmark is bounded in time
	idleDialers = 64
	idleSettle  = 5 * time.Second // how long after the idle timeout the agent's connections and RSS are read again
)

// agentConns counts the agent's sockets (its open descriptors that are sockets): its listener, and the
// connections it accepted and has not closed.
func agentConns(b *testing.B, pid int) int {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(link, "socket:") {
			n++
		}
	}
	return n - 1 // its listener
}

// raiseNoFile lifts the test process's open-file limit (which the agent it starts inherits) to at least n.
func raiseNoFile(b *testing.B, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		b.Skipf("the hard open-file limit %d is below %d", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
}

// openIdle opens n connections to addr, each making one GET /ca.pem and keeping its connection open: the ones the
// agent answers within the wait are idle keep-alive connections, the others wait to be accepted. It returns the
// connections (to close) and how many were answered.
func openIdle(b *testing.B, addr string, n int, wait time.Duration) ([]net.Conn, int) {
	var (
		mu       sync.Mutex
		conns    []net.Conn
		answered atomic.Int64
		wg       sync.WaitGroup
	)
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	deadline := time.Now().Add(wait)
	for range idleDialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				conn, err := net.DialTimeout("tcp", addr, time.Until(deadline))
				if err != nil {
					continue // the listen backlog is full: the connection waits no more than the others
				}
				mu.Lock()
				conns = append(conns, conn)
				mu.Unlock()
				go func() {
					if _, err := io.WriteString(conn, "GET /ca.pem HTTP/1.1\r\nHost: agent\r\n\r\n"); err != nil {
						return
					}
					conn.SetReadDeadline(deadline)
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						answered.Add(1)
					}
					conn.SetReadDeadline(time.Time{})
				}()
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Until(deadline) + 100*time.Millisecond)
	return conns, int(answered.Load())
}

// BenchmarkAgentIdleConnections starts the real agent binary on loopback and opens 5,000 keep-alive connections that
// make one request each and then stay idle: the agent's RSS while they are open, and once its idle timeout has
// passed. "uncapped" lifts the connection cap above 5,000, so every connection is held and the figure is what each
// costs; "default cap" runs the agent with its default cap (agent.DefaultMaxConns), above which connections wait in
// the kernel's listen backlog and cost the agent nothing. The Go runtime gives freed memory back to the kernel
// lazily, so the RSS after the idle timeout stays near its peak: agent-conns-after-idle-timeout is what shows the
// connections released.
func BenchmarkAgentIdleConnections(b *testing.B) {
	raiseNoFile(b, 3*idleConns)
	for _, c := range []struct {
		name     string
		maxConns int
	}{{"uncapped", 2 * idleConns}, {"default cap", agent.DefaultMaxConns}} {
		b.Run(strings.ReplaceAll(c.name, " ", "-"), func(b *testing.B) {
			// One measurement whatever b.N (-benchtime): it takes about 10 s, and its 5,000 loopback connections
			// leave their ports in TIME_WAIT for a minute, so 30 in a row would run out of ephemeral ports.
			{
				start := time.Now()
				dir := b.TempDir()
				agentFiles(b, dir, 100)
				base, pid := startAgent(b, dir, "--idle-timeout", idleTimeout.String(), "--max-conns", fmt.Sprint(c.maxConns))
				addr := strings.TrimPrefix(base, "http://")
				before := procStatusMiB(b, pid, "VmRSS")
				// Every connection is dialled and answered well within the idle timeout (64 dialers on loopback).
				conns, answered := openIdle(b, addr, idleConns, idleTimeout*2/3)
				held, heldConns := procStatusMiB(b, pid, "VmRSS"), agentConns(b, pid)
				time.Sleep(idleTimeout + idleSettle)
				// The agent closed the idle ones: a connection left waiting over the cap was then served and idles
				// out in turn. The Go runtime returns freed memory to the kernel lazily: the figure after the timeout
				// is what the agent still holds a few seconds later, as a real one would.
				after, afterConns := procStatusMiB(b, pid, "VmRSS"), agentConns(b, pid)
				for _, conn := range conns {
					conn.Close()
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds()), "ns/op")
				b.ReportMetric(float64(len(conns)), "conns-open")
				b.ReportMetric(float64(answered), "conns-served")
				b.ReportMetric(float64(heldConns), "agent-conns")
				b.ReportMetric(float64(afterConns), "agent-conns-after-idle-timeout")
				b.ReportMetric(before, "rss-start-MiB")
				b.ReportMetric(held, "rss-idle-conns-MiB")
				b.ReportMetric(after, "rss-after-idle-timeout-MiB")
				b.Logf("%s: %d connections open, %d served and idle: the agent holds %d connections and %.1f MiB RSS (%.1f MiB at start); %v after the idle timeout (%v), %d connections and %.1f MiB",
					c.name, len(conns), answered, heldConns, held, before, idleSettle, idleTimeout, afterConns, after)
			}
		})
	}
}
