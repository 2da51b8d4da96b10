package agent_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/agent"
)

// serveLimited serves a directory holding a CA and a serving key pair over plain HTTP and over TLS with lim, and
// returns a dialer for each: the connection it returns has made one request and read its response, so the server
// has accepted it and it is idle.
func serveLimited(t *testing.T, lim agent.Limits) map[string]func() (net.Conn, *bufio.Reader, error) {
	t.Helper()
	dir := t.TempDir()
	ca := newCA(t, "limits CA", time.Now().Add(time.Hour))
	writeFile(t, dir, agent.CAFile, ca.pem)
	crt, key := ca.leaf(t, 1)
	writeFile(t, dir, agent.TLSCertFile, crt)
	writeFile(t, dir, agent.TLSKeyFile, key)
	srv := agent.New(&agent.Options{Dir: dir})
	ctx, cancel := context.WithCancel(context.Background())
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- agent.Serve(ctx, plain, srv, lim) }()
	go func() { done <- agent.ServeTLS(ctx, secure, srv, srv.TLSConfig(), lim) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	request := func(conn net.Conn) (*bufio.Reader, error) {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		defer conn.SetDeadline(time.Time{})
		if _, err := io.WriteString(conn, "GET /ca.pem HTTP/1.1\r\nHost: agent\r\n\r\n"); err != nil {
			return nil, err
		}
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK || resp.Close {
			return nil, errors.New("not a 200 on a kept-alive connection: " + resp.Status)
		}
		return r, nil
	}
	dial := func(addr string, tlsCfg *tls.Config) func() (net.Conn, *bufio.Reader, error) {
		return func() (net.Conn, *bufio.Reader, error) {
			var conn net.Conn
			var err error
			if tlsCfg != nil {
				conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tlsCfg)
			} else {
				conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
			}
			if err != nil {
				return nil, nil, err
			}
			r, err := request(conn)
			if err != nil {
				conn.Close()
				return nil, nil, err
			}
			return conn, r, nil
		}
	}
	return map[string]func() (net.Conn, *bufio.Reader, error){
		"http":  dial(plain.Addr().String(), nil),
		"https": dial(secure.Addr().String(), &tls.Config{RootCAs: pool}),
	}
}

// TestIdleConnectionClosed: a keep-alive connection that sends no further request is closed by the agent once the
// idle timeout has passed, over HTTP and over TLS (without the timeout it stayed open for as long as the client
// wished).
func TestIdleConnectionClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	for name, dial := range serveLimited(t, agent.Limits{IdleTimeout: idle}) {
		t.Run(name, func(t *testing.T) {
			conn, r, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			conn.SetReadDeadline(start.Add(5 * time.Second))
			_, err = r.ReadByte()
			took := time.Since(start)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("an idle connection was still open after %v (idle timeout %v)", took, idle)
			}
			if err == nil || took < idle/2 || took > idle+2*time.Second {
				t.Fatalf("read on the idle connection: %v after %v, want it closed after about %v", err, took, idle)
			}
		})
	}
}

// TestConnectionCap: with a cap of two connections per listener, a third waits (its request is not answered) while
// two are open, and is served as soon as one of them closes.
func TestConnectionCap(t *testing.T) {
	for name, dial := range serveLimited(t, agent.Limits{MaxConns: 2}) {
		t.Run(name, func(t *testing.T) {
			var open []net.Conn
			for range 2 {
				conn, _, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				open = append(open, conn)
			}
			third := make(chan error, 1)
			go func() {
				conn, _, err := dial()
				if err == nil {
					conn.Close()
				}
				third <- err
			}()
			select {
			case err := <-third:
				t.Fatalf("a third connection over the cap of two was served at once (%v)", err)
			case <-time.After(500 * time.Millisecond):
			}
			open[0].Close()
			select {
			case err := <-third:
				if err != nil {
					t.Fatalf("the waiting connection, once a slot was free: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the waiting connection was not served after one of the two closed")
			}
		})
	}
}

// TestLimitListenerClose: closing a limit listener ends an Accept waiting for a free slot, and a connection closed
// twice frees one slot, not two.
func TestLimitListenerClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := agent.LimitListener(inner, 1)
	go func() {
		for range 3 {
			if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
				defer c.Close()
			}
		}
		time.Sleep(2 * time.Second)
	}()
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	first.Close()
	second, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
			err = errors.New("accepted a connection over the cap")
		}
		accepted <- err
	}()
	time.Sleep(200 * time.Millisecond)
	ln.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "closed") {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
}
