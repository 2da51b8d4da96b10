// Command tls-authority-agent serves the public material the tls-authority
// charm pushes into its workload container: CA bundle, chain, CRL, health and
// metrics (see package agent). Pebble runs it as service "agent".
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/tls-authority/tls-authority/agent"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "tls-authority-agent: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tls-authority-agent", flag.ContinueOnError)
	dir := fs.String("dir", agent.DefaultDir, "directory holding the files to serve")
	listen := fs.String("listen", "", "address to listen on (default: the hostname's address, port 8080)")
	listenTLS := fs.String("listen-tls", "", "address to serve HTTPS on with tls.crt and tls.key of the directory (default: none)")
	debug := fs.Bool("debug", false, "log every request")
	var lim agent.Limits
	fs.DurationVar(&lim.ReadTimeout, "read-timeout", agent.DefaultReadTimeout, "longest time to read a request")
	fs.DurationVar(&lim.WriteTimeout, "write-timeout", agent.DefaultWriteTimeout, "longest time to write a response")
	fs.DurationVar(&lim.IdleTimeout, "idle-timeout", agent.DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request")
	fs.IntVar(&lim.MaxConns, "max-conns", agent.DefaultMaxConns, "connections served at once by each listener; more wait to be accepted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" {
		*listen = agent.DefaultListenAddress()
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("cannot listen: %w", err)
	}
	logger.Info("listening", "address", ln.Addr().String(), "dir", *dir, "idle-timeout", lim.IdleTimeout, "max-conns", lim.MaxConns)
	srv := agent.New(&agent.Options{Dir: *dir, Logger: logger})
	// Both listeners serve the same handlers; the first to fail stops the other, so Pebble restarts the service.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	n := 1
	go func() { errc <- agent.Serve(ctx, ln, srv, lim) }()
	if *listenTLS != "" {
		tln, err := net.Listen("tcp", *listenTLS)
		if err != nil {
			return fmt.Errorf("cannot listen for TLS: %w", err)
		}
		logger.Info("listening for TLS", "address", tln.Addr().String())
		n++
		go func() { errc <- agent.ServeTLS(ctx, tln, srv, srv.TLSConfig(), lim) }()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
		cancel()
	}
	if first != nil {
		return first
	}
	logger.Info("stopped")
	return nil
}
