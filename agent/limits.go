package agent

import (
	"net"
	"sync"
	"time"
)

// Defaults of Limits. The write timeout covers the largest response the agent sends: a CRL listing every serial
// ever revoked and /metrics over a full inventory are a few MB, which a client reading at 100 KB/s takes well under
// a minute to read. The idle timeout frees what a keep-alive connection holds (about 20 KB of buffers and a
// goroutine) two minutes at most after its last request. 512 connections per listener keep the agent near its 30 MiB
// RSS goal with every slot held (1,024 measured 31 MiB, BenchmarkAgentIdleConnections); its clients (Prometheus,
// a few scrapers, units fetching /ca.pem) need a handful.
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 60 * time.Second
	DefaultIdleTimeout  = 60 * time.Second
	DefaultMaxConns     = 512
)

// Limits bounds what clients can hold of an agent's listener. A zero field takes its default.
type Limits struct {
	ReadTimeout  time.Duration // a whole request, headers included (DefaultReadTimeout)
	WriteTimeout time.Duration // a whole response, from the end of its request's headers (DefaultWriteTimeout)
	IdleTimeout  time.Duration // a keep-alive connection waiting for its next request (DefaultIdleTimeout)
	MaxConns     int           // connections served at once; the next ones wait to be accepted (DefaultMaxConns)
}

func (l Limits) withDefaults() Limits {
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

// LimitListener accepts at most n connections at once: Accept waits for one of them to close before it takes the
// next from the kernel, so a connection over the cap waits in the listen backlog and costs the agent nothing.
// Closing the listener ends a waiting Accept.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
