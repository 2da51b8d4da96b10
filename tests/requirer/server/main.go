// Command requirer-server is the reference requirer's workload. It listens on the address the pod's hostname
// resolves to (as a pod's service does) and picks up new certificates and keys without a restart: it re-reads the
// files when they change and keeps serving the previous pair until the new pair loads, so a renewal or a CA
// rotation drops no handshake.
//
// On port 8443 it serves the certificate the charm pushed (--cert, --key), or plain HTTP given --plain (TLS off,
// as a COS charm without a certificates relation): with "hello from <host>", or, given --backends, as a reverse
// proxy in front of the backend units listed in that file (Traefik's role in the reference architecture), each
// routed by its path prefix or in turn. The proxy verifies each backend's certificate against its container's trust store (--trust, the
// bundle update-ca-certificates builds from what the charm installed) and answers 502 Bad Gateway, logging why,
// to a backend it cannot verify.
//
// Given --peer-cert, it also serves mutual TLS on port 9443: the unit's own certificate, and a client must present
// a certificate that --peer-ca (the CA that issued the unit's) verifies.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	o := &options{}
	flag.StringVar(&o.certFile, "cert", "/var/lib/tls-requirer/tls.crt", "PEM certificate (and chain) to serve")
	flag.StringVar(&o.keyFile, "key", "/var/lib/tls-requirer/tls.key", "PEM private key of the certificate")
	flag.StringVar(&o.listen, "listen", "", "address to listen on; default <address of the hostname>:8443")
	flag.StringVar(&o.backends, "backends", "", "proxy to the backends listed in this JSON file instead of answering")
	flag.StringVar(&o.trust, "trust", "/etc/ssl/certs/ca-certificates.crt", "the trust store bundle that verifies backends")
	flag.StringVar(&o.peerCert, "peer-cert", "", "PEM certificate (and chain) for mutual TLS on port 9443")
	flag.StringVar(&o.peerKey, "peer-key", "", "PEM private key of --peer-cert")
	flag.StringVar(&o.peerCA, "peer-ca", "", "PEM CA that verifies the clients of port 9443")
	flag.BoolVar(&o.plain, "plain", false, "serve plain HTTP on port 8443 (no certificate: TLS is off)")
	poll := flag.Duration("poll", 500*time.Millisecond, "how often to look for new certificate files")
	flag.Parse()
	if err := run(o, *poll); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	certFile, keyFile, listen, backends, trust string
	peerCert, peerKey, peerCA                  string
	plain                                      bool
}

func run(o *options, poll time.Duration) error {
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("cannot read hostname: %w", err)
	}
	ip := ""
	if o.listen == "" || o.peerCert != "" {
		if ip, err = resolve(host); err != nil {
			return err
		}
	}
	if o.listen == "" {
		o.listen = net.JoinHostPort(ip, "8443")
	}
	w := &watcher{certFile: o.certFile, keyFile: o.keyFile}
	watchers := []*watcher{w}
	var handler http.Handler = hello(host)
	if o.backends != "" {
		handler = &proxy{backendsFile: o.backends, trust: &bundle{file: o.trust}, plain: o.plain}
	}
	errc := make(chan error, 2)
	if o.peerCert != "" {
		pw := &watcher{certFile: o.peerCert, keyFile: o.peerKey}
		watchers = append(watchers, pw)
		go func() { errc <- servePeers(net.JoinHostPort(ip, "9443"), host, pw, &bundle{file: o.peerCA}) }()
	}
	for _, x := range watchers {
		x.load()
	}
	go func() {
		for range time.Tick(poll) {
			for _, x := range watchers {
				x.load()
			}
		}
	}()
	srv := &http.Server{
		Addr:              o.listen,
		Handler:           handler,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: w.get},
		ReadHeaderTimeout: 10 * time.Second,
	}
	if o.plain {
		log.Printf("listening on %s (plain HTTP)", o.listen)
		go func() { errc <- srv.ListenAndServe() }()
		return <-errc
	}
	log.Printf("listening on %s", o.listen)
	go func() { errc <- srv.ListenAndServeTLS("", "") }()
	return <-errc
}

func hello(host string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(rw, "hello from %s\n", host)
	})
}

// servePeers serves mutual TLS: a client without a certificate that the peer CA verifies is refused in the
// handshake. The answer names the client's certificate, so a caller sees which identity got through.
func servePeers(addr, host string, w *watcher, ca *bundle) error {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The CA file is read when it changed, at each handshake, as the certificate is.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool, err := ca.pool()
			if err != nil {
				return nil, err
			}
			return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: w.get,
				ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}, nil
		},
	}
	srv := &http.Server{
		Addr: addr,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(rw, "hello %s from %s (mutual TLS)\n", r.TLS.PeerCertificates[0].Subject.CommonName, host)
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(os.Stderr, "peer: ", log.LstdFlags),
	}
	log.Printf("mutual TLS on %s", addr)
	return srv.ListenAndServeTLS("", "")
}

// backend is one entry of the --backends file, which the charm writes from the ingress relation.
type backend struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Prefix string `json:"prefix"`
}

// proxy forwards a request whose path starts with a backend's prefix (Traefik's per-unit route) to that backend,
// and any other request to the next backend in turn; an https backend over TLS verified against the trust bundle,
// an http one (its TLS is off) in plain HTTP.
type proxy struct {
	backendsFile string
	trust        *bundle
	next         atomic.Uint64
	plain        bool // the proxy itself serves plain HTTP
}

// pick is the backend whose prefix routes path, else the next one in turn.
func (p *proxy) pick(list []backend, path string) backend {
	for _, b := range list {
		if b.Prefix != "" && (path == b.Prefix || strings.HasPrefix(path, b.Prefix+"/")) {
			return b
		}
	}
	return list[int(p.next.Add(1)-1)%len(list)]
}

func (p *proxy) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var list []backend
	data, err := os.ReadFile(p.backendsFile)
	if err == nil {
		err = json.Unmarshal(data, &list)
	}
	if err != nil || len(list) == 0 {
		log.Printf("no backend to proxy %s to (%v)", r.URL.Path, err)
		http.Error(rw, "no backend", http.StatusServiceUnavailable)
		return
	}
	b := p.pick(list, r.URL.Path)
	var pool *x509.CertPool
	if strings.HasPrefix(b.URL, "https://") {
		pool, err = p.trust.pool()
	}
	if err != nil {
		log.Printf("cannot proxy to %s: %v", b.Name, err)
		http.Error(rw, "cannot read the trust store", http.StatusBadGateway)
		return
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, b.URL+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	proto := "https"
	if p.plain {
		proto = "http"
	}
	out.Header.Set("X-Forwarded-Proto", proto)
	out.Header.Set("X-Forwarded-Host", r.Host)
	resp, err := tr.RoundTrip(out)
	if err != nil {
		// A backend whose certificate the trust store does not verify lands here: refused, never served.
		log.Printf("refused backend %s (%s): %v", b.Name, b.URL, err)
		http.Error(rw, fmt.Sprintf("bad gateway: backend %s: %v", b.Name, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			rw.Header().Add(k, v)
		}
	}
	rw.Header().Set("X-Backend", b.Name)
	rw.WriteHeader(resp.StatusCode)
	io.Copy(rw, resp.Body)
}

// bundle is a PEM file of CA certificates, parsed again when its content changes.
type bundle struct {
	file string
	mu   sync.Mutex
	data []byte
	p    *x509.CertPool
}

func (b *bundle) pool() (*x509.CertPool, error) {
	data, err := os.ReadFile(b.file)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", b.file, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p != nil && bytes.Equal(data, b.data) {
		return b.p, nil
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, errors.New("cannot parse " + b.file + ": no certificate")
	}
	b.data, b.p = data, p
	return p, nil
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
	log.Printf("serving a new certificate from %s (%d bytes)", w.certFile, len(certPEM))
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
