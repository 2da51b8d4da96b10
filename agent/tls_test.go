package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/agent"
)

// leaf issues a serving certificate for 127.0.0.1 and returns tls.crt (leaf and CA) and tls.key as PEM.
func (ca *testCA) leaf(t *testing.T, serial int64) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "agent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	crt = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...)
	return crt, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestTLSListener serves over TLS from the directory's tls.crt and tls.key: a handshake fails while they are
// missing, verifies under the CA once they are there, and sees a new certificate (another CA's) once the files are
// replaced, without a restart.
func TestTLSListener(t *testing.T) {
	dir := t.TempDir()
	ca1 := newCA(t, "ca one", time.Now().Add(24*time.Hour))
	ca2 := newCA(t, "ca two", time.Now().Add(24*time.Hour))
	writeFile(t, dir, agent.CAFile, ca1.pem)
	srv := agent.New(&agent.Options{Dir: dir})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.ServeTLS(ctx, ln, srv, srv.TLSConfig(), agent.Limits{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	client := func(ca *testCA) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(ca.cert)
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	}
	url := "https://" + ln.Addr().String() + "/ca.pem"
	fetch := func(c *http.Client) (string, *x509.Certificate, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body), resp.TLS.PeerCertificates[0], nil
	}

	if _, _, err := fetch(client(ca1)); err == nil {
		t.Fatal("handshake succeeded without tls.crt and tls.key")
	}
	crt, key := ca1.leaf(t, 1)
	writeFile(t, dir, agent.TLSKeyFile, key)
	writeFile(t, dir, agent.TLSCertFile, crt)
	body, leaf, err := fetch(client(ca1))
	if err != nil {
		t.Fatalf("cannot fetch over TLS under the CA: %v", err)
	}
	if body != string(ca1.pem) || leaf.SerialNumber.Int64() != 1 {
		t.Fatalf("got serial %v and body %q", leaf.SerialNumber, body)
	}
	// Another CA's client does not trust it: the handshake really verifies.
	var uerr *tls.CertificateVerificationError
	if _, _, err := fetch(client(ca2)); !errors.As(err, &uerr) {
		t.Fatalf("a client trusting another CA: got %v, want a certificate verification error", err)
	}

	// The charm renews: a certificate from another CA, key first then certificate, as the charm pushes them.
	crt2, key2 := ca2.leaf(t, 2)
	writeFile(t, dir, agent.TLSKeyFile, key2)
	// Between the two pushes the pair does not match: the previous certificate is still served.
	if _, leaf, err := fetch(client(ca1)); err != nil || leaf.SerialNumber.Int64() != 1 {
		t.Fatalf("between the pushes: got %v, %v; want the previous certificate", leaf, err)
	}
	writeFile(t, dir, agent.TLSCertFile, crt2)
	if _, leaf, err := fetch(client(ca2)); err != nil || leaf.SerialNumber.Int64() != 2 {
		t.Fatalf("after the renewal: got %v, %v; want serial 2 under the new CA", leaf, err)
	}
	if _, _, err := fetch(client(ca1)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("the old CA's client after the renewal: got %v, want a certificate error", err)
	}
}
