// Package agent is the tls-authority workload agent's HTTP server. The charm
// pushes public material into a directory (CA bundle, chain, CRL, an inventory
// of issued certificates); the agent serves those files, a health check and
// Prometheus metrics derived from them, and picks up new versions without a
// restart. It never handles a private key and knows nothing about Juju.
package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Files the charm pushes into the agent's directory.
const (
	CAFile        = "ca.pem"
	ChainFile     = "chain.pem"
	CRLFile       = "crl.der"
	CRLPEMFile    = "crl.pem"
	InventoryFile = "inventory.json"
	CountsFile    = "counts.json"
	// CRLPrefix starts the name of each trusted CA's CRL file: crl-<id>.der and crl-<id>.pem, served at
	// /crl/<id> and /crl/<id>.pem (see serveCACRL).
	CRLPrefix = "crl-"
)

// DefaultDir is where the charm pushes the files.
const DefaultDir = "/var/lib/tls-authority"

// DefaultPort is the port the agent listens on.
const DefaultPort = 8080

// Options configures a Server.
type Options struct {
	Dir    string           // default DefaultDir
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default time.Now: the clock the per-certificate life fractions are computed at
}

// Server serves the agent's routes.
type Server struct {
	dir      string
	log      *slog.Logger
	now      func() time.Time
	files    *files
	mux      *http.ServeMux
	registry *prometheus.Registry
}

// route is a file served as is.
type route struct {
	path, file, contentType string
}

var fileRoutes = []route{
	{"/ca.pem", CAFile, "application/x-pem-file"},
	{"/chain.pem", ChainFile, "application/x-pem-file"},
	{"/crl", CRLFile, "application/pkix-crl"},
	{"/crl.pem", CRLPEMFile, "application/x-pem-file"},
}

// New returns a server for the files in o.Dir.
func New(o *Options) *Server {
	s := &Server{dir: o.Dir, log: o.Logger, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if s.dir == "" {
		s.dir = DefaultDir
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.files = newFiles(s.dir)
	s.mux = http.NewServeMux()
	for _, rt := range fileRoutes {
		s.mux.HandleFunc("GET "+rt.path, s.serveFile(rt))
	}
	s.mux.HandleFunc("GET /crl/{name}", s.serveCACRL)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.registry = s.newRegistry()
	s.mux.Handle("GET /metrics", s.metricsHandler())
	return s
}

// ServeHTTP serves one request, logging it at debug level.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Only a debug logger pays for the wrapper and the log record: /ca.pem is served at tens of thousands of
	// requests per second.
	if !s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(sw, r)
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) serveFile(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := s.files.get(rt.file)
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			s.log.Warn("cannot serve file", "file", rt.file, "error", err)
			http.Error(w, "cannot read "+rt.file, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", rt.contentType)
		// ServeContent gives HEAD, Last-Modified/If-Modified-Since and ranges. A hand-written path for plain GETs
		// was tried: the same syscalls per request (strace) and about 5% less CPU, not worth a second code path.
		http.ServeContent(w, r, rt.file, f.modTime, bytes.NewReader(f.data))
	}
}

// serveCACRL serves the CRL of one CA at /crl/<id> (DER) and /crl/<id>.pem, <id> being the lower-case hex the
// charm names the CA by (its subject key identifier), from crl-<id>.der and crl-<id>.pem. Every certificate names
// its issuer's path as its CRL distribution point, so during a rotation's overlap the certificates of the previous
// CA still find that CA's CRL, while /crl and /crl.pem serve the current CA's.
func (s *Server) serveCACRL(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	id, isPEM := strings.CutSuffix(name, ".pem")
	if !isCRLID(id) {
		http.NotFound(w, r)
		return
	}
	rt := route{path: r.URL.Path, file: CRLPrefix + id + ".der", contentType: "application/pkix-crl"}
	if isPEM {
		rt.file, rt.contentType = CRLPrefix+id+".pem", "application/x-pem-file"
	}
	s.serveFile(rt)(w, r)
}

// isCRLID accepts what a CA's CRL is named by: lower-case hex, so no path can be built from it.
func isCRLID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// healthz is 200 "ok" when the directory is readable and ca.pem holds
// certificates; 503 with the reason otherwise.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.health(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) health() error {
	if _, err := os.ReadDir(s.dir); err != nil {
		return fmt.Errorf("cannot read directory: %w", err)
	}
	if _, err := s.caCerts(); err != nil {
		return err
	}
	return nil
}

// caCerts returns the certificates of ca.pem.
func (s *Server) caCerts() ([]*x509.Certificate, error) {
	f, err := s.files.get(CAFile)
	if err != nil {
		return nil, err
	}
	certs, err := f.derive(func(data []byte) (any, error) { return parseCerts(data) })
	if err != nil {
		return nil, fmt.Errorf("cannot use %s: %w", CAFile, err)
	}
	return certs.([]*x509.Certificate), nil
}

// parseCerts parses every CERTIFICATE block of a PEM file (at least one).
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cannot parse certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("cannot find a PEM certificate")
	}
	return certs, nil
}

// DefaultListenAddress is where a pod's agent listens: the address its
// hostname resolves to (IPv4 first), port DefaultPort; all interfaces when
// the hostname does not resolve.
func DefaultListenAddress() string {
	port := fmt.Sprint(DefaultPort)
	host, err := os.Hostname()
	if err != nil {
		return ":" + port
	}
	addrs, err := net.LookupHost(host)
	if err != nil || len(addrs) == 0 {
		return ":" + port
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			return net.JoinHostPort(a, port)
		}
	}
	return net.JoinHostPort(addrs[0], port)
}

// Serve serves h on ln until ctx is done, then shuts down gracefully
// (in-flight requests get up to 5 s). lim bounds the connections (zero fields: the defaults).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, lim Limits) error {
	return serve(ctx, ln, h, nil, lim)
}

// ServeTLS is Serve over TLS with cfg (Server.TLSConfig).
func ServeTLS(ctx context.Context, ln net.Listener, h http.Handler, cfg *tls.Config, lim Limits) error {
	if cfg == nil {
		return errNoTLS
	}
	return serve(ctx, ln, h, cfg, lim)
}

func serve(ctx context.Context, ln net.Listener, h http.Handler, cfg *tls.Config, lim Limits) error {
	lim = lim.withDefaults()
	// Without an idle timeout a keep-alive connection stays open for as long as its client wants (3,000 idle
	// connections held 62 MiB), and without a cap on connections nothing bounds their number.
	srv := &http.Server{Handler: h, TLSConfig: cfg,
		ReadHeaderTimeout: min(lim.ReadTimeout, 10*time.Second), ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout}
	ln = LimitListener(ln, lim.MaxConns)
	errc := make(chan error, 1)
	go func() {
		if cfg != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate comes from cfg.GetCertificate
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("cannot serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("cannot shut down: %w", err)
	}
	return nil
}
