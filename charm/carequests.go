package charm

// This file owns allow-ca-requests' refusal: as the provider words it for the requirer, and as a child authority
// (intermediate mode) reads it from its parent and tells its own operator.

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// caRequestsOption is the option that lets requirers have CA certificates (off by default: SPEC §2).
const caRequestsOption = "allow-ca-requests"

// caRequestRefusal adds to the refusal of a CA request under allow-ca-requests false the command that lifts it,
// with this application's name: the requirer's operator reads it (in a child's status, in Vault's log), and may
// be in another model, where the name the offer goes by is not the one to configure. Other refusals are returned
// as they are.
func caRequestRefusal(r *ca.Refusal, app string) *ca.Refusal {
	if r == nil || !r.CARequest {
		return r
	}
	out := *r
	out.Message = fmt.Sprintf("%s; the operator allows them with: juju config %s %s=true", r.Message, app, caRequestsOption)
	return &out
}

// configCommandRE finds the command caRequestRefusal adds, and the parent's application name in it.
var configCommandRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`juju config ([a-z0-9][a-z0-9-]*) ` + caRequestsOption + `=true`)
})

// maxRefusalInStatus bounds how much of a parent's refusal a status quotes: a status is a line in `juju status`
// (and the parent's message is remote text); the whole refusal is in the log.
const maxRefusalInStatus = 100

// issuerRefusedStatus is the child's Waiting message when its parent refused the CA request: short, with the
// command to run when the refusal is allow-ca-requests' (the parent's own name for itself when it gives it, else
// the name the relation shows here), else the start of the parent's message.
func issuerRefusedStatus(parent string, refused *tlscertificates.ErrorDetail) string {
	msg := strings.Join(strings.Fields(refused.Message), " ") // one line, whatever the parent wrote
	if m := configCommandRE().FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("waiting for issuer: %s refused the CA request (juju config %s %s=true)", parent, m[1], caRequestsOption)
	}
	if strings.Contains(msg, caRequestsOption) {
		return fmt.Sprintf("waiting for issuer: %s refused the CA request (juju config %s %s=true)", parent, parent, caRequestsOption)
	}
	if len(msg) > maxRefusalInStatus {
		msg = strings.ToValidUTF8(msg[:maxRefusalInStatus], "") + "..."
	}
	return fmt.Sprintf("waiting for issuer: %s refused the CA request: %s", parent, msg)
}

// pathLenRefusal refuses a CA request this authority's own CA cannot sign into a chain that verifies: its
// pathLenConstraint leaves no room for a CA of ca-request-max-path-length below it (an intermediate made by a
// parent with ca-request-max-path-length 0 can sign leaves only). Signing it anyway would hand the requirer a CA
// certificate every verifier refuses. nil when own is nil or unconstrained.
func pathLenRefusal(own *x509.Certificate, p ca.Policy) *ca.Refusal {
	if own == nil || !own.BasicConstraintsValid || (own.MaxPathLen < 0 || own.MaxPathLen == 0 && !own.MaxPathLenZero) {
		return nil // no path length: any depth
	}
	if own.MaxPathLen > p.CAMaxPathLen {
		return nil
	}
	return &ca.Refusal{Code: ca.CodeOther, Name: "other", Message: fmt.Sprintf(
		"this authority's CA has path length %d, so it cannot sign a CA certificate of path length %d (ca-request-max-path-length); "+
			"its issuer must allow a deeper chain", own.MaxPathLen, p.CAMaxPathLen)}
}
