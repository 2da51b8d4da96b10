package trust_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/container"
	"github.com/tls-authority/tls-authority/trust"
)

// startContainer starts a real simulated container (Pebble in a private
// mount namespace) and stops it at cleanup.
func startContainer(t *testing.T) *container.Container {
	t.Helper()
	return container.StartForTest(t, "trust-test", container.Namespace{Hostname: "trust-0"})
}

type certKey struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

// newCert makes a CA (parent nil: self-signed) or a leaf under parent.
func newCert(t *testing.T, cn string, parent *certKey) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.DNSNames = []string{cn}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certKey{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// counting wraps the real Pebble runner to count update-ca-certificates runs.
func counting(cl *client.Client, n *int) trust.Runner {
	run := trust.PebbleRunner(cl)
	return func(argv []string, timeout time.Duration) (string, error) {
		*n++
		return run(argv, timeout)
	}
}

// verifies reports whether leafFile (a host path under /tmp, visible in the
// container) verifies against the container's CA bundle.
func verifies(t *testing.T, c *container.Container, leafFile string) bool {
	t.Helper()
	out, _, err := c.Exec(30*time.Second, "openssl", "verify", "-CAfile", "/etc/ssl/certs/ca-certificates.crt", leafFile)
	var exit *client.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return err == nil && strings.Contains(out, ": OK")
}

func TestSyncRealContainer(t *testing.T) {
	hostBundle, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	hostLocal, _ := os.ReadDir("/usr/local/share/ca-certificates")
	c := startContainer(t)
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	// The image's own CA in the same dir must survive every sync.
	imageCA := newCert(t, "image CA", nil)
	if err := cl.Push(&client.PushOptions{Path: "/usr/local/share/ca-certificates/image.crt", Source: strings.NewReader(imageCA.pem)}); err != nil {
		t.Fatal(err)
	}

	caA, caB := newCert(t, "CA a", nil), newCert(t, "CA b", nil)
	leafA, leafB := newCert(t, "a.example", caA), newCert(t, "b.example", caB)
	// The leaves go into the container's own /tmp (it shares no directory with the host), as a workload's files.
	fileA, fileB := "/tmp/leaf-a.pem", "/tmp/leaf-b.pem"
	for path, pem := range map[string]string{fileA: leafA.pem, fileB: leafB.pem} {
		if err := cl.Push(&client.PushOptions{Path: path, Source: strings.NewReader(pem), MakeDirs: true}); err != nil {
			t.Fatal(err)
		}
	}

	runs := 0
	inst := &trust.Installer{Client: cl, Prefix: "tls-authority-", Runner: counting(cl, &runs)}
	steps := []struct {
		name        string
		cas         map[string]string
		wantChanged bool
		wantFiles   []string
		wantA       bool
		wantB       bool
	}{
		{"a", map[string]string{"a": caA.pem}, true, []string{"tls-authority-a.crt"}, true, false},
		{"a and b", map[string]string{"a": caA.pem, "b": caB.pem}, true, []string{"tls-authority-a.crt", "tls-authority-b.crt"}, true, true},
		{"same again", map[string]string{"a": caA.pem, "b": caB.pem}, false, []string{"tls-authority-a.crt", "tls-authority-b.crt"}, true, true},
		{"same, other whitespace", map[string]string{"a": "\n" + caA.pem + "\n", "b": caB.pem}, false, []string{"tls-authority-a.crt", "tls-authority-b.crt"}, true, true},
		{"b only", map[string]string{"b": caB.pem}, true, []string{"tls-authority-b.crt"}, false, true},
		{"b as bundle", map[string]string{"b": caB.pem + caA.pem}, true, []string{"tls-authority-b.crt"}, true, true},
		{"none", map[string]string{}, true, nil, false, false},
		{"none again", nil, false, nil, false, false},
	}
	wantRuns := 0
	for _, s := range steps {
		changed, err := inst.Sync(s.cas)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if changed {
			wantRuns++
		}
		if changed != s.wantChanged || runs != wantRuns {
			t.Errorf("%s: changed=%v runs=%d, want %v and %d", s.name, changed, runs, s.wantChanged, wantRuns)
		}
		var got []string
		entries, _ := os.ReadDir(filepath.Join(c.Rootfs(), "usr/local/share/ca-certificates"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "tls-authority-") {
				got = append(got, e.Name())
			} else if e.Name() != "image.crt" {
				t.Errorf("%s: unexpected file %s", s.name, e.Name())
			}
		}
		if strings.Join(got, ",") != strings.Join(s.wantFiles, ",") {
			t.Errorf("%s: files %v, want %v", s.name, got, s.wantFiles)
		}
		if a := verifies(t, c, fileA); a != s.wantA {
			t.Errorf("%s: leaf under a verifies=%v, want %v", s.name, a, s.wantA)
		}
		if b := verifies(t, c, fileB); b != s.wantB {
			t.Errorf("%s: leaf under b verifies=%v, want %v", s.name, b, s.wantB)
		}
		links, _ := filepath.Glob(filepath.Join(c.Rootfs(), "etc/ssl/certs/tls-authority-*"))
		if len(links) != len(s.wantFiles) {
			t.Errorf("%s: trust dir links %v, want one per file", s.name, links)
		}
	}
	if _, err := os.Stat(filepath.Join(c.Rootfs(), "usr/local/share/ca-certificates/image.crt")); err != nil {
		t.Errorf("image CA gone: %v", err)
	}
	after, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if !bytes.Equal(hostBundle, after) {
		t.Error("host CA bundle changed")
	}
	if afterLocal, _ := os.ReadDir("/usr/local/share/ca-certificates"); len(afterLocal) != len(hostLocal) {
		t.Error("host /usr/local/share/ca-certificates changed")
	}
}

func TestSyncRetriesFailedUpdate(t *testing.T) {
	c := startContainer(t)
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ca := newCert(t, "CA", nil)
	runs := 0
	real := trust.PebbleRunner(cl)
	fail := true
	inst := &trust.Installer{Client: cl, Prefix: "x-", Runner: func(argv []string, timeout time.Duration) (string, error) {
		runs++
		if fail {
			return "", errors.New("boom")
		}
		return real(argv, timeout)
	}}
	if _, err := inst.Sync(map[string]string{"ca": ca.pem}); err == nil || !strings.HasPrefix(err.Error(), "cannot update") {
		t.Fatalf("Sync error %v, want cannot update...", err)
	}
	// The file is in place but the store never linked it: the next sync must
	// run the update again rather than believe nothing changed.
	fail = false
	changed, err := inst.Sync(map[string]string{"ca": ca.pem})
	if err != nil || !changed || runs != 2 {
		t.Fatalf("retry: changed=%v err=%v runs=%d", changed, err, runs)
	}
	if changed, err := inst.Sync(map[string]string{"ca": ca.pem}); err != nil || changed || runs != 2 {
		t.Fatalf("steady: changed=%v err=%v runs=%d", changed, err, runs)
	}
}

func TestSyncMissingDir(t *testing.T) {
	c := startContainer(t)
	cl, _ := c.Client()
	runs := 0
	inst := &trust.Installer{Client: cl, Prefix: "x-", Dir: "/var/lib/new/cas", Runner: func([]string, time.Duration) (string, error) {
		runs++
		return "", nil
	}}
	ca := newCert(t, "CA", nil)
	if changed, err := inst.Sync(map[string]string{"ca": ca.pem}); err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	got, err := os.ReadFile(filepath.Join(c.Rootfs(), "var/lib/new/cas/x-ca.crt"))
	if err != nil || string(got) != ca.pem {
		t.Errorf("pushed file %q, %v", got, err)
	}
	if st, err := os.Stat(filepath.Join(c.Rootfs(), "var/lib/new/cas/x-ca.crt")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
}

func TestSanitizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"My CA", "my-ca"},
		{"certificate_transfer:12", "certificate-transfer-12"},
		{"../../etc/passwd", "etc-passwd"},
		{"--x--", "x"},
		{"ÄÖ", ""},
		{"", ""},
		{"a*b?", "a-b"},
	}
	for _, tt := range tests {
		if got := trust.SanitizeName(tt.in); got != tt.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizePEM(t *testing.T) {
	ca := newCert(t, "CA", nil)
	keyDER, _ := x509.MarshalECPrivateKey(ca.key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"one", ca.pem, ca.pem, ""},
		{"text around", "subject=CA\n" + ca.pem + "\n\n", ca.pem, ""},
		{"two", ca.pem + ca.pem, ca.pem + ca.pem, ""},
		{"empty", "", "", "cannot find a certificate"},
		{"garbage", "hello", "", "cannot find a certificate"},
		{"key", ca.pem + keyPEM, "", "only certificates"},
		{"bad der", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "", "cannot parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trust.NormalizePEM(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestSyncInvalidInput(t *testing.T) {
	// These fail before any call, so the client's socket need not exist.
	cl, err := client.New(&client.Config{Socket: filepath.Join(t.TempDir(), "none.socket")})
	if err != nil {
		t.Fatal(err)
	}
	ca := newCert(t, "CA", nil)
	tests := []struct {
		name    string
		inst    trust.Installer
		cas     map[string]string
		wantErr string
	}{
		{"no client", trust.Installer{Prefix: "x-"}, nil, "no Pebble client"},
		{"no prefix", trust.Installer{Client: cl}, nil, "invalid prefix"},
		{"glob prefix", trust.Installer{Client: cl, Prefix: "x*"}, nil, "invalid prefix"},
		{"empty name", trust.Installer{Client: cl, Prefix: "x-"}, map[string]string{"??": ca.pem}, "no usable characters"},
		{"collision", trust.Installer{Client: cl, Prefix: "x-"}, map[string]string{"A": ca.pem, "a": ca.pem}, "both map to x-a.crt"},
		{"bad pem", trust.Installer{Client: cl, Prefix: "x-"}, map[string]string{"a": "junk"}, `cannot install CA "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed, err := tt.inst.Sync(tt.cas)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "cannot ") {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if changed {
				t.Error("changed on error")
			}
		})
	}
}
