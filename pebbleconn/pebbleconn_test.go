package pebbleconn

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConnect(t *testing.T) {
	dir, err := os.MkdirTemp("", "pc-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	if _, err := Connect(dir, "authority"); err == nil {
		t.Fatal("Connect succeeded with no socket")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a missing Pebble cost %v: the client's retries were not avoided", d)
	}
	if err := os.MkdirAll(filepath.Join(dir, "authority"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", Socket(dir, "authority"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Connect(dir, "authority"); err != nil {
		t.Fatalf("Connect with a listening socket: %v", err)
	}
}
