// Command stormrequirer is the dispatch of the scale-storm benchmark's requirer charm (metadata.yaml beside it):
// per unit, one certificate for the unit's Kubernetes FQDN over tls-certificates, through the Go requirer library,
// with an ECDSA key so that a thousand units do not spend the benchmark generating RSA keys. Its status is Active
// once the certificate is there; the status last set is kept in the charm dir so that a hook with nothing new
// costs no status-set.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

func main() {
	hc := hooktool.New(hooktool.EnvFromOS(), hooktool.ExecRunner{Timeout: time.Minute})
	if err := run(hc); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR %s: %v\n", hc.Env.DispatchPath, err)
		os.Exit(1)
	}
}

func run(hc *hooktool.Context) error {
	app, n, _ := strings.Cut(hc.Env.UnitName, "/")
	fqdn := fmt.Sprintf("%s-%s.%s-endpoints.%s.svc.cluster.local", app, n, app, hc.Env.ModelName)
	req := tlscertificates.NewRequirer(hc, &tlscertificates.RequirerOptions{
		UnitRequests: []tlscertificates.CertificateRequest{{CommonName: fqdn, DNSNames: []string{fqdn}}},
		KeyAlgorithm: ca.ECDSAP256,
	})
	got, err := req.Sync()
	if err != nil {
		return err
	}
	st, msg := hooktool.StatusWaiting, "waiting for the certificate"
	switch c := got.Unit[0]; {
	case got.RelationID == "":
		st, msg = hooktool.StatusBlocked, "needs a certificates relation"
	case c.Refused != nil:
		st, msg = hooktool.StatusBlocked, "refused: "+c.Refused.Message
	case c.Ready():
		st, msg = hooktool.StatusActive, ""
	}
	cache := filepath.Join(hc.Env.CharmDir, ".storm-status")
	line := string(st) + " " + msg
	if b, err := os.ReadFile(cache); err == nil && string(b) == line {
		return nil
	}
	if err := hc.SetStatus(st, msg); err != nil {
		return err
	}
	return os.WriteFile(cache, []byte(line), 0o644)
}
