package charm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

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

// getURL fetches a URL from the charm container, as a COS charm calls its workload: HTTPS is verified with the
// charm container's system trust store (what charm-trust-store installs), nothing else. A failed request fails the
// action with the error, so a refused handshake reads as such.
func (r *reconciler) getURL() error {
	params, err := r.hc.ActionParams()
	if err != nil {
		return err
	}
	url, _ := params["url"].(string)
	resolve, _ := params["resolve"].(string)
	body, status, err := fetchURL(url, resolve, 10*time.Second)
	if err != nil {
		return r.hc.FailAction(err.Error())
	}
	return r.hc.SetActionResults(map[string]string{"status": fmt.Sprint(status), "body": body})
}

// fetchURL GETs url with the system trust store; resolve ("host:address") dials address for host.
func fetchURL(url, resolve string, timeout time.Duration) (string, int, error) {
	tr := &http.Transport{DisableKeepAlives: true, TLSHandshakeTimeout: timeout}
	if host, addr, ok := strings.Cut(resolve, ":"); ok {
		d := &net.Dialer{Timeout: timeout}
		tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
			if h, port, err := net.SplitHostPort(hostport); err == nil && h == host {
				hostport = net.JoinHostPort(addr, port)
			}
			return d.DialContext(ctx, network, hostport)
		}
	}
	client := &http.Client{Transport: tr, Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return "", 0, fmt.Errorf("cannot get %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1000))
	if err != nil {
		return "", 0, fmt.Errorf("cannot read %s: %w", url, err)
	}
	return string(b), resp.StatusCode, nil
}
