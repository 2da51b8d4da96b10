package pebbleconn

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/container"
)

// hungPebble listens on a container's Pebble socket, accepts every connection and never reads from it nor answers:
// a Pebble stuck on a lock. It returns the containers dir.
func hungPebble(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pc-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.MkdirAll(filepath.Join(dir, "authority"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", Socket(dir, "authority"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return dir
}

// TestHungPebble: every kind of call the charm makes (pull, push of a file larger than the socket's buffers, plan,
// add-layer, replan, wait-change, services, list, remove, exec) on a Pebble that accepts and never answers returns
// within the deadline (plus the 5 s for which the Pebble client retries a failed GET, each retry failing at once),
// with an error that says Pebble did not answer in time. Without a deadline each of them hung for as long as the
// hook was allowed to live. A new client is a new hook: each call gets its own.
func TestHungPebble(t *testing.T) {
	const clientRetry = 5 * time.Second
	const d = 300 * time.Millisecond
	dir := hungPebble(t)
	connect := func() *client.Client {
		c, err := ConnectWithin(dir, "authority", d)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	big := bytes.Repeat([]byte("x"), 4<<20)
	calls := []struct {
		name string
		call func(c *client.Client) error
	}{
		{"pull", func(c *client.Client) error {
			var b bytes.Buffer
			return c.Pull(&client.PullOptions{Path: "/x", Target: &b})
		}},
		{"push", func(c *client.Client) error {
			return c.Push(&client.PushOptions{Path: "/x", Source: bytes.NewReader(big), MakeDirs: true})
		}},
		{"plan", func(c *client.Client) error { _, err := c.PlanBytes(nil); return err }},
		{"add-layer", func(c *client.Client) error {
			return c.AddLayer(&client.AddLayerOptions{Label: "l", LayerData: []byte("services: {}\n")})
		}},
		{"replan", func(c *client.Client) error { _, err := c.Replan(&client.ServiceOptions{}); return err }},
		{"wait-change", func(c *client.Client) error {
			_, err := c.WaitChange("1", &client.WaitChangeOptions{Timeout: time.Second})
			return err
		}},
		{"services", func(c *client.Client) error { _, err := c.Services(&client.ServicesOptions{}); return err }},
		{"list-files", func(c *client.Client) error { _, err := c.ListFiles(&client.ListFilesOptions{Path: "/"}); return err }},
		{"remove", func(c *client.Client) error { return c.RemovePath(&client.RemovePathOptions{Path: "/x"}) }},
		{"exec", func(c *client.Client) error {
			p, err := c.Exec(&client.ExecOptions{Command: []string{"true"}, Timeout: time.Second})
			if err != nil {
				return err
			}
			return p.Wait()
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			done := make(chan error, 1)
			c := connect()
			go func() { done <- tc.call(c) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(d + clientRetry + 5*time.Second):
				t.Fatalf("still waiting on a hung Pebble after %v", time.Since(start))
			}
			took := time.Since(start)
			var de *DeadlineError
			if !errors.As(err, &de) || took > d+clientRetry+time.Second {
				t.Fatalf("got %v after %v, want a deadline error within about %v", err, took, d)
			}
			if got := Clarify(err).Error(); got != "Pebble did not answer within 300ms" {
				t.Errorf("Clarify: %q", got)
			}
			if !strings.Contains(err.Error(), "Pebble did not answer within 300ms") {
				t.Errorf("the error does not say what happened: %v", err)
			}
		})
	}
}

// TestDeadlineRealPebble: the deadline changes nothing for a Pebble that answers: push, pull, plan and an exec whose
// command is silent for most of the deadline work, and a connection kept idle in the pool past the deadline does
// not fail the next call. Then, once a call to a hung
// Pebble ran out of time, the client's next calls fail at once.
func TestDeadlineRealPebble(t *testing.T) {
	const d = 3 * time.Second
	ctr := container.StartForTest(t, "pebbleconn", container.Namespace{Hostname: "pc-0"})
	c, err := NewClient(ctr.SocketPath(), d)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Push(&client.PushOptions{Path: "/var/lib/x/f", Source: strings.NewReader("content"), MakeDirs: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d + d/2) // past the pool's idle timeout and the deadline: the pooled connection must not fail the pull
	var b bytes.Buffer
	if err := c.Pull(&client.PullOptions{Path: "/var/lib/x/f", Target: &b}); err != nil || b.String() != "content" {
		t.Fatalf("pull after an idle pause: %q, %v", b.String(), err)
	}
	if _, err := c.PlanBytes(nil); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p, err := c.Exec(&client.ExecOptions{Command: []string{"sh", "-c", "sleep 0.3; echo done"}, Timeout: d - time.Second, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil || strings.TrimSpace(out.String()) != "done" {
		t.Fatalf("exec: %q, %v", out.String(), err)
	}

	hung, err := ConnectWithin(hungPebble(t), "authority", d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hung.Replan(&client.ServiceOptions{}); !errors.As(err, new(*DeadlineError)) {
		t.Fatalf("replan on a hung Pebble: %v", err)
	}
	start := time.Now()
	if err := hung.AddLayer(&client.AddLayerOptions{Label: "l", LayerData: []byte("services: {}\n")}); !errors.As(err, new(*DeadlineError)) || time.Since(start) > d/2 {
		t.Fatalf("the next call on the hung Pebble: %v after %v, want a deadline error at once", err, time.Since(start))
	}
}
