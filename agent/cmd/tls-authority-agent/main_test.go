package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/container"
)

// agentBin is this command, built once by TestMain into an image dir
// (imageDir/usr/local/bin/tls-authority-agent, as the rock lays it out).
var imageDir, agentBin string

func TestMain(m *testing.M) {
	var err error
	imageDir, err = os.MkdirTemp("", "agent-image-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = container.ImagePath(imageDir, "/usr/local/bin/tls-authority-agent")
	out, err := exec.Command("go", "build", "-o", agentBin, ".").CombinedOutput()
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot build: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(imageDir)
	os.Exit(code)
}

func caPEM(t *testing.T) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agent test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestBinary runs the real binary on a kernel-chosen port and stops it with
// SIGTERM.
func TestBinary(t *testing.T) {
	bin, dir := agentBin, t.TempDir()
	ca := caPEM(t)
	os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644)

	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--dir", dir, "--debug")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "msg=listening address="); ok {
			addr = strings.Fields(rest)[0]
		}
	}
	if addr == "" {
		t.Fatal("no listening line")
	}
	rest := make(chan string)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()

	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/ca.pem", 200, string(ca)},
		{"/healthz", 200, "ok\n"},
		{"/chain.pem", 404, ""},
	}
	for _, tt := range tests {
		code, body, err := httpGet("http://" + addr + tt.path)
		if err != nil || code != tt.wantCode || (tt.wantBody != "" && body != tt.wantBody) {
			t.Errorf("%s: %d %q %v", tt.path, code, body, err)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	logs := <-rest
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logs)
	}
	if !strings.Contains(logs, "path=/ca.pem status=200") || !strings.Contains(logs, "msg=stopped") {
		t.Errorf("logs lack the request or the stop:\n%s", logs)
	}
}

func TestBinaryBadFlags(t *testing.T) {
	bin := agentBin
	tests := [][]string{{"--nope"}, {"--listen", "256.0.0.1:1"}}
	for _, args := range tests {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil {
			t.Errorf("%v: exit 0\n%s", args, out)
		}
	}
}

// TestInContainer runs the agent as a Pebble service in a simulated
// container, as the charm does: the image's /usr/local/bin holds the agent,
// the charm pushes ca.pem into /var/lib/tls-authority, and the agent listens
// on the address its hostname resolves to.
func TestInContainer(t *testing.T) {
	// A loopback address of our own, unlikely to be used by other tests.
	ip := fmt.Sprintf("127.%d.%d.%d", 200+os.Getpid()%50, (os.Getpid()/50)%250+1, time.Now().UnixNano()%250+1)
	fqdn := "tls-authority-0.tls-authority-endpoints.m.svc.cluster.local"
	c := container.StartForTest(t, "authority", container.Namespace{
		Hostname: "tls-authority-0",
		Hosts:    []container.HostEntry{{IP: ip, Names: []string{fqdn, "tls-authority-0"}}},
		Image:    imageDir,
	})
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ca := caPEM(t)
	if err := cl.Push(&client.PushOptions{Path: "/var/lib/tls-authority/ca.pem", Source: strings.NewReader(string(ca)), MakeDirs: true}); err != nil {
		t.Fatal(err)
	}
	layer := `
services:
  agent:
    override: replace
    command: tls-authority-agent --debug
    startup: enabled
`
	if err := cl.AddLayer(&client.AddLayerOptions{Label: "agent", LayerData: []byte(layer)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Start(&client.ServiceOptions{Names: []string{"agent"}}); err != nil {
		t.Fatal(err)
	}
	url := "http://" + ip + ":8080/ca.pem"
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := httpGet(url)
		if err == nil {
			if code != 200 || body != string(ca) {
				t.Errorf("GET %s: %d %q", url, code, body)
			}
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(c.LogPath())
			t.Fatalf("agent not answering on %s: %v\n%s", url, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The charm replaces the file: served without a restart.
	ca2 := caPEM(t)
	if err := cl.Push(&client.PushOptions{Path: "/var/lib/tls-authority/ca.pem", Source: strings.NewReader(string(ca2))}); err != nil {
		t.Fatal(err)
	}
	if code, body, err := httpGet(url); err != nil || code != 200 || body != string(ca2) {
		t.Errorf("after push: %d %q %v", code, body, err)
	}
	if code, body, err := httpGet("http://" + ip + ":8080/healthz"); err != nil || code != 200 {
		t.Errorf("healthz: %d %q %v", code, body, err)
	}
}
