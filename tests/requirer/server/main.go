// Command requirer-server is the reference requirer's workload: an HTTPS
// server that serves the certificate the charm pushed into its container. It
// listens on the address the pod's hostname resolves to (as a pod's service
// does), port 8443, and picks up a new certificate and key without a restart:
// it re-reads both files when they change and keeps serving the previous pair
// until the new pair loads, so a renewal or a CA rotation drops no handshake.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	certFile := flag.String("cert", "/var/lib/tls-requirer/tls.crt", "PEM certificate (and chain) to serve")
	keyFile := flag.String("key", "/var/lib/tls-requirer/tls.key", "PEM private key of the certificate")
	listen := flag.String("listen", "", "address to listen on; default <address of the hostname>:8443")
	poll := flag.Duration("poll", 500*time.Millisecond, "how often to look for new certificate files")
	flag.Parse()
	if err := run(*certFile, *keyFile, *listen, *poll); err != nil {
		log.Fatal(err)
	}
}

func run(certFile, keyFile, listen string, poll time.Duration) error {
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("cannot read hostname: %w", err)
	}
	if listen == "" {
		ip, err := resolve(host)
		if err != nil {
			return err
		}
		listen = net.JoinHostPort(ip, "8443")
	}
	w := &watcher{certFile: certFile, keyFile: keyFile}
	w.load()
	go func() {
		for range time.Tick(poll) {
			w.load()
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(rw, "hello from %s\n", host)
	})
	srv := &http.Server{
		Addr:    listen,
		Handler: mux,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: w.get,
		},
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("listening on %s", listen)
	return srv.ListenAndServeTLS("", "")
}

// resolve returns the IPv4 address host resolves to, retrying for a while:
// the pod's hosts entry may come a moment after the process starts.
func resolve(host string) (string, error) {
	var last error
	for i := 0; i < 60; i++ {
		addrs, err := net.LookupHost(host)
		if err == nil {
			for _, a := range addrs {
				if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
					return a, nil
				}
			}
			if len(addrs) > 0 {
				return addrs[0], nil
			}
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	return "", fmt.Errorf("cannot resolve hostname %q: %v", host, last)
}

// watcher holds the pair being served and the file contents it came from.
type watcher struct {
	certFile, keyFile string
	pair              atomic.Pointer[tls.Certificate]
	mu                sync.Mutex // guards the last contents read
	certPEM, keyPEM   []byte
}

// load reads both files and swaps in the pair when they changed and load
// together. A half-written update (new key, old certificate) does not load,
// so the previous pair stays until the other file arrives.
func (w *watcher) load() {
	w.mu.Lock()
	defer w.mu.Unlock()
	certPEM, err1 := os.ReadFile(w.certFile)
	keyPEM, err2 := os.ReadFile(w.keyFile)
	if err1 != nil || err2 != nil {
		return
	}
	if bytes.Equal(certPEM, w.certPEM) && bytes.Equal(keyPEM, w.keyPEM) {
		return
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return
	}
	w.certPEM, w.keyPEM = certPEM, keyPEM
	w.pair.Store(&pair)
	log.Printf("serving a new certificate (%d bytes)", len(certPEM))
}

// get serves the newest complete pair on disk: each handshake looks at the files (two small reads), so a client
// that connects right after the charm pushed a certificate gets it, whatever the poll interval and the load.
func (w *watcher) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	w.load()
	if p := w.pair.Load(); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("no certificate yet")
}
