package charm

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
)

// Cluster names and who owns them.
//
// Juju deploys a sidecar application <app> as a StatefulSet <app> in the namespace <model>, with a ClusterIP
// service <app> and a headless service <app>-endpoints; pod <app>-<n> is unit <app>/<n>. Kubernetes' DNS gives
// a service <svc>.<model>.svc.cluster.local and a pod of a headless service <pod>.<svc>.<model>.svc.cluster.local;
// the namespace's search path also resolves the shorter <svc>.<model>.svc, so certificates carry both spellings.
// Charms add services of their own under their app's name (postgresql-k8s-primary), so a service <app> or
// <app>-<anything> is taken to be <app>'s. The charm cannot list the model's applications (no hook tool does), so
// when one application's name is another's plus "-<suffix>" (db and db-backup), the shorter one also owns the
// longer one's services; name applications apart to keep them bound apart.
//
// The names bound are those ending in .<model>.svc or .<model>.svc.cluster.local, where <model> is this
// authority's model. <svc>.<model> alone is not bound: it is also a public name whenever the model is named like
// a top-level domain ("dev", "app"), and refusing public names is allowed-domains' job. A cross-model requirer is
// remote-<hex> here: its pods live in its own model's namespace, whose names are not under ours, so it owns none
// of ours (and its own are not ours to bind).
//
// Within the owning application:
//   - <app>-<n>.<app>-endpoints is unit <app>/<n>'s: in UNIT mode only that unit may ask for it, in APP mode the
//     application may (it serves all its units);
//   - a service name (one label under the model) is the application's: any of its units, or the app, may ask;
//   - any other name under a service (a wildcard *.<app>-endpoints, which covers every unit, or a sibling's
//     FQDN) is the application's as a whole: only an APP-mode request may carry it.

// foreignName is a requested name the requester does not own, with who does.
type foreignName struct {
	Name  string
	Owner string // "unit b/0", "application b" (under b-endpoints), or "the application of service b"
}

// remoteAppRE is how Juju names a cross-model requirer's application on the offering side.
var remoteAppRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^remote-[0-9a-f]{32}$`) })

// foreignClusterNames returns the names of csr (DNS SANs, and a CN that is a host name) that are cluster names of
// model but not from's: from is a unit name ("a/0", UNIT mode) or an application name (APP mode).
func foreignClusterNames(csr *x509.CertificateRequest, model, from string) []foreignName {
	app, unit, isUnit := strings.Cut(from, "/")
	if remoteAppRE().MatchString(app) {
		app = "" // owns nothing in this model
	}
	names := append([]string(nil), csr.DNSNames...)
	if cn := csr.Subject.CommonName; cn != "" {
		if _, err := netip.ParseAddr(cn); err != nil && strings.Contains(cn, ".") {
			names = append(names, cn)
		}
	}
	var out []foreignName
	seen := map[string]bool{}
	for _, name := range names {
		n := normalizeName(name)
		if seen[n] {
			continue
		}
		seen[n] = true
		labels, ok := underModel(n, model)
		if !ok {
			continue
		}
		svc := labels[len(labels)-1]
		switch {
		case app == "" || (svc != app && !strings.HasPrefix(svc, app+"-")):
			// Another application's service, or a name under it.
		case len(labels) == 1:
			continue // the app's service: any of its units, or the app
		case !isUnit:
			continue // APP mode: every name under the app's services
		case len(labels) == 2 && svc == app+"-endpoints" && labels[0] == app+"-"+unit:
			continue // the unit's own FQDN
		}
		out = append(out, foreignName{Name: name, Owner: ownerText(labels)})
	}
	return out
}

// underModel gives the labels before .<model>.svc[.cluster.local] in n, or false when n is not a cluster name of
// model.
func underModel(n, model string) ([]string, bool) {
	model = strings.ToLower(model)
	if model == "" {
		return nil, false
	}
	for _, suffix := range []string{"." + model + ".svc.cluster.local", "." + model + ".svc"} {
		if rest, ok := strings.CutSuffix(n, suffix); ok && rest != "" {
			return strings.Split(rest, "."), true
		}
	}
	return nil, false
}

// ownerText names who owns a cluster name (its labels before the model), for the log line and the refusal.
func ownerText(labels []string) string {
	svc := labels[len(labels)-1]
	app, headless := strings.CutSuffix(svc, "-endpoints")
	if !headless || app == "" {
		return "the application of service " + svc
	}
	if len(labels) == 2 {
		if n, ok := strings.CutPrefix(labels[0], app+"-"); ok && isDigits(n) {
			return "unit " + app + "/" + n
		}
	}
	return "application " + app
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func normalizeName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// describeForeign is the names and their owners, for a log line or a refusal.
func describeForeign(fs []foreignName) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%q (owned by %s)", f.Name, f.Owner)
	}
	return strings.Join(parts, ", ")
}
