// Package pebbleconn connects a sidecar charm to a workload container's Pebble, as Juju exposes it to the charm
// container: <containers dir>/<container>/pebble.socket (/charm/containers in Juju; the simulator gives its own
// directory through hooktool.Env.ContainersDir).
//
// Every call made through a client it returns has a deadline: Pebble must take each part of the request and send
// each part of its answer within Deadline, or the call fails with a *DeadlineError ("Pebble did not answer within
// 30s"). The Pebble client itself has no deadline at all: a Pebble that accepts a connection and never answers (one
// stuck on a lock, a container whose processes are frozen) would hang the hook until Juju kills it. A call that
// legitimately waits on Pebble longer (wait-change, exec) must ask Pebble for a shorter wait of its own
// (WaitChangeOptions.Timeout, ExecOptions.Timeout below Deadline), so Pebble answers first.
package pebbleconn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/canonical/pebble/client"
)

// Socket is the path of a container's Pebble socket.
func Socket(containersDir, container string) string {
	return filepath.Join(containersDir, container, "pebble.socket")
}

// probeTimeout bounds the check that Pebble answers at all.
const probeTimeout = 500 * time.Millisecond

// Deadline is how long a client waits on Pebble for any one step of a call: the connection, each write of the
// request, each read of the answer.
const Deadline = 30 * time.Second

// MaxWait is the longest a call may ask Pebble to wait on its side (a wait-change timeout, an exec timeout): below
// Deadline, with room for Pebble to answer that the wait ran out.
const MaxWait = Deadline - 5*time.Second

// DeadlineError is the error of a call Pebble did not answer in time.
type DeadlineError struct {
	Deadline time.Duration
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("Pebble did not answer within %v", e.Deadline)
}

// Timeout says it is a timeout (net.Error), so that net/http treats it as one.
func (e *DeadlineError) Timeout() bool { return true }

// Temporary is part of net.Error.
func (e *DeadlineError) Temporary() bool { return false }

// Unwrap makes errors.Is(err, os.ErrDeadlineExceeded) hold.
func (e *DeadlineError) Unwrap() error { return os.ErrDeadlineExceeded }

// Clarify returns the *DeadlineError inside err when there is one, err otherwise: a call that ran out of time then
// reads "cannot pull X: Pebble did not answer within 30s" rather than through the HTTP client's own wrapping.
func Clarify(err error) error {
	var de *DeadlineError
	if errors.As(err, &de) {
		return de
	}
	return err
}

// Connect returns a client for the container's Pebble, or an error at once when nothing listens on its socket.
// The Pebble client itself retries a refused connection for 5 s: a container that is not up yet (before
// pebble-ready, during a restart) must cost a hook milliseconds, not seconds. Its calls have a deadline of
// Deadline.
func Connect(containersDir, container string) (*client.Client, error) {
	return ConnectWithin(containersDir, container, Deadline)
}

// ConnectWithin is Connect with a deadline of d (tests use a short one).
func ConnectWithin(containersDir, container string, d time.Duration) (*client.Client, error) {
	sock := Socket(containersDir, container)
	conn, err := net.DialTimeout("unix", sock, probeTimeout)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Pebble at %s: %w", sock, err)
	}
	conn.Close()
	return NewClient(sock, d)
}

// NewClient returns a client for the Pebble socket at sock whose every call has a deadline of d.
func NewClient(sock string, d time.Duration) (*client.Client, error) {
	c, err := client.New(&client.Config{Socket: sock})
	if err != nil {
		return nil, fmt.Errorf("cannot create a Pebble client: %w", err)
	}
	tr := c.Requester().Transport()
	// Once Pebble has let one step run out of time it is taken as hung for the rest of the client's life: the
	// client's own retry loop (GETs are retried for 5 s) and the hook's next calls fail at once instead of waiting
	// out the deadline again, so a hook on a hung Pebble waits about one Deadline in all, not one per call.
	hung := new(atomic.Bool)
	// The client's HTTP requests and its exec websockets both dial through Transport.Dial (the websocket dialer
	// copies it), so a connection made here is the only kind the client uses.
	//lint:ignore SA1019 the Pebble client sets Dial, not DialContext, and its websocket dialer reads Dial
	tr.Dial = func(string, string) (net.Conn, error) {
		if hung.Load() {
			return nil, &DeadlineError{Deadline: d}
		}
		if _, err := os.Stat(sock); errors.Is(err, os.ErrNotExist) {
			return nil, &client.SocketNotFoundError{Err: err, Path: sock}
		}
		conn, err := net.DialTimeout("unix", sock, d)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				hung.Store(true)
				return nil, &DeadlineError{Deadline: d}
			}
			return nil, err
		}
		return &deadlineConn{Conn: conn, d: d, hung: hung}, nil
	}
	// A kept-alive connection waits in the pool with a read pending (net/http watches it for the server closing
	// it): the pool drops it before that read's deadline, so a connection never fails while idle.
	tr.IdleConnTimeout = d / 2
	return c, nil
}

// deadlineConn gives each read and write its own deadline, d from when it starts.
type deadlineConn struct {
	net.Conn
	d    time.Duration
	hung *atomic.Bool // set when a read or write runs out of time
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.d)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	return n, c.mapErr(err)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.d)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	return n, c.mapErr(err)
}

// SetDeadline and its two kin are what a websocket sets around its handshake: each read and write sets its own.
func (c *deadlineConn) SetDeadline(time.Time) error      { return nil }
func (c *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }

func (c *deadlineConn) mapErr(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.hung.Store(true)
		return &DeadlineError{Deadline: c.d}
	}
	// A read that hit the deadline makes the HTTP client close the connection under a write still pushing a body:
	// that write's "use of closed network connection" is the same deadline.
	if err != nil && errors.Is(err, net.ErrClosed) && c.hung.Load() {
		return &DeadlineError{Deadline: c.d}
	}
	return err
}
