package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
)

// Files of the agent's own serving certificate, which the charm issues to its unit and pushes next to the public
// material: tls.crt is the leaf followed by its chain, tls.key its private key (mode 0600).
const (
	TLSCertFile = "tls.crt"
	TLSKeyFile  = "tls.key"
)

// DefaultTLSPort is the port the agent serves HTTPS on. The HTTP port stays: a client fetches /ca.pem there before
// it can verify anything.
const DefaultTLSPort = 8443

// certLoader gives the TLS listener the current key pair. It goes through the same stat-keyed cache as the served
// files, so a renewed certificate (the charm replaces both files) is picked up on the next handshake without a
// restart, and an unchanged one costs two stats per handshake.
type certLoader struct {
	files *files

	mu       sync.Mutex
	crt, key *file // the versions the cached pair was built from
	pair     *tls.Certificate
}

func (l *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	crt, err := l.files.get(TLSCertFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load the serving certificate: %w", err)
	}
	key, err := l.files.get(TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load the serving key: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pair != nil && l.crt == crt && l.key == key {
		return l.pair, nil
	}
	// The charm pushes tls.crt and tls.key one after the other: between the two a handshake may see a new
	// certificate with the old key, which X509KeyPair refuses; the previous pair is served until both match.
	pair, err := tls.X509KeyPair(crt.data, key.data)
	if err != nil {
		if l.pair != nil {
			return l.pair, nil
		}
		return nil, fmt.Errorf("cannot use the serving key pair: %w", err)
	}
	l.crt, l.key, l.pair = crt, key, &pair
	return &pair, nil
}

// TLSConfig is the server side of the HTTPS listener: the key pair in the server's directory, reread when the
// files change. A handshake fails while they are missing.
func (s *Server) TLSConfig() *tls.Config {
	l := &certLoader{files: s.files}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: l.get}
}

// errNoTLS is what a listener gets when no TLS config was given.
var errNoTLS = errors.New("cannot serve TLS: no configuration")
