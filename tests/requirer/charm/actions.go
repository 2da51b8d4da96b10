package charm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// getCertificate reports the assigned certificate of a scope (the served one
// by default): certificate, ca and chain (the chain's PEMs joined by a
// newline). It fails while nothing is assigned.
func (r *reconciler) getCertificate() error {
	params, err := r.hc.ActionParams()
	if err != nil {
		return err
	}
	assigned, _, err := r.sync()
	if errors.Is(err, ErrInvalidConfig) {
		return r.hc.FailAction(err.Error())
	}
	if err != nil {
		return err
	}
	scope := r.cfg.Serves()
	if s, _ := params["scope"].(string); s != "" {
		scope = tlscertificates.Scope(s)
	}
	var list []tlscertificates.AssignedCertificate
	switch scope {
	case tlscertificates.ScopeUnit:
		list = assigned.Unit
	case tlscertificates.ScopeApp:
		list = assigned.App
	case "cluster":
		if r.clusterCert == nil {
			return r.hc.FailAction("no cluster-certificates relation")
		}
		list = []tlscertificates.AssignedCertificate{*r.clusterCert}
	default:
		return r.hc.FailAction(fmt.Sprintf("unknown scope %q (want unit, app or cluster)", scope))
	}
	if len(list) == 0 {
		return r.hc.FailAction(fmt.Sprintf("mode %q requests no %s certificate", r.modeName(), scope))
	}
	if !list[0].Ready() {
		return r.hc.FailAction(fmt.Sprintf("no %s certificate assigned yet", scope))
	}
	return r.hc.SetActionResults(map[string]string{
		"certificate": list[0].Certificate,
		"ca":          list[0].CA,
		"chain":       strings.Join(list[0].Chain, "\n"),
		"csr":         list[0].CSR,
	})
}

func (r *reconciler) modeName() string {
	switch {
	case r.cfg.Proxy:
		return "proxy"
	case r.cfg.Unit && r.cfg.App:
		return "both"
	case r.cfg.App:
		return "app"
	}
	return "unit"
}

// getTrustedCAs reports the CAs received on receive-ca-cert, which the
// reconcile installs into the server container: certificates (the PEMs
// joined by a newline, sorted) and count.
func (r *reconciler) getTrustedCAs() error {
	_, received, err := r.sync()
	if errors.Is(err, ErrInvalidConfig) {
		return r.hc.FailAction(err.Error())
	}
	if err != nil {
		return err
	}
	all := received.All()
	return r.hc.SetActionResults(map[string]string{
		"certificates": strings.Join(all, "\n"),
		"count":        fmt.Sprint(len(all)),
	})
}
