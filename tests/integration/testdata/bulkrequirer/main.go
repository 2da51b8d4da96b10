// Command bulkrequirer is the dispatch of the integration suite's bulk requirer charm (metadata.yaml beside it):
// every unit requests count certificates (config) over tls-certificates through the Go requirer library, for
// <i>.<unit FQDN>, with ECDSA keys, so that one pod gives the authority a few hundred certificates to list. Active
// once all of them are there. It lives in testdata because it is built in the root module, not the suite's: the
// suite builds it with `go build` from the repository root and packs it with cmd/pack-charm.
package main

import (
	"fmt"
	"os"
	"strconv"
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
	cfg, err := hc.Config()
	if err != nil {
		return err
	}
	count, _ := strconv.Atoi(fmt.Sprint(cfg["count"]))
	app, n, _ := strings.Cut(hc.Env.UnitName, "/")
	fqdn := fmt.Sprintf("%s-%s.%s-endpoints.%s.svc.cluster.local", app, n, app, hc.Env.ModelName)
	var reqs []tlscertificates.CertificateRequest
	for i := range count {
		name := fmt.Sprintf("c%d.%s", i, fqdn)
		reqs = append(reqs, tlscertificates.CertificateRequest{CommonName: name, DNSNames: []string{name}})
	}
	req := tlscertificates.NewRequirer(hc, &tlscertificates.RequirerOptions{UnitRequests: reqs, KeyAlgorithm: ca.ECDSAP256})
	got, err := req.Sync()
	if err != nil {
		return err
	}
	ready := 0
	for _, c := range got.Unit {
		if c.Ready() {
			ready++
		}
	}
	switch {
	case got.RelationID == "":
		return hc.SetStatus(hooktool.StatusBlocked, "needs a certificates relation")
	case ready < count:
		return hc.SetStatus(hooktool.StatusWaiting, fmt.Sprintf("%d of %d certificates", ready, count))
	}
	return hc.SetStatus(hooktool.StatusActive, fmt.Sprintf("%d certificates", ready))
}
