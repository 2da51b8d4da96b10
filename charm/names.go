package charm

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Cluster names and who owns them.
//
// Juju deploys a sidecar application <app> as a StatefulSet <app> in the namespace <model>, with a ClusterIP
// service <app> and a headless service <app>-endpoints; pod <app>-<n> is unit <app>/<n>. Kubernetes' DNS gives
// a service <svc>.<model>.svc.cluster.local and a pod of a headless service <pod>.<svc>.<model>.svc.cluster.local.
// A pod's resolver has the search path <ns>.svc.cluster.local, svc.cluster.local, cluster.local with ndots 5, so
// shorter spellings reach the same service first, before any public name:
//   - <svc>.<model>.svc and <pod>.<svc>.<model>.svc, from every pod of the cluster;
//   - <svc>.<model> and <pod>.<svc>.<model>, from every pod of the cluster;
//   - <svc> and <pod>.<svc>, from every pod of the model's namespace.
//
// Charms add services of their own under their app's name (postgresql-k8s-primary), so a service <app> or
// <app>-<anything> is taken to be <app>'s. The charm cannot list the model's applications (no hook tool does), so
// when one application's name is another's plus "-<suffix>" (db and db-backup), the shorter one also owns the
// longer one's services; name applications apart to keep them bound apart.
//
// The names bound (underModel) are, <model> being this authority's model:
//   - any name ending in .<model>.svc or .<model>.svc.cluster.local;
//   - <svc>.<model> and <pod>.<svc>.<model> (a wildcard pod label too): one or two labels before the model's. With
//     ndots 5 they are the cluster's names inside it even when the model is named like a top-level domain ("dev":
//     a pod resolving victim.dev gets the service); deeper names under .<model> resolve to nothing in the cluster
//     and are left to allowed-domains;
//   - <pod>.<app>-endpoints (or *.<app>-endpoints): a Juju headless service's pod name, short form. Other two-label
//     names (example.com) are public names, not bound;
//   - a single label <svc> as a DNS SAN, except "localhost". A single-label common name is not bound: it is a user
//     or client name far more often (client certificates carry one and no SAN), Go never reads the CN as a host
//     name, and OpenSSL only when the certificate has no DNS SAN.
// A cross-model requirer is remote-<hex> here: its pods live in its own model's namespace, whose names are not
// under ours, so it owns none of ours (and its own are not ours to bind).
//
// Within the owning application:
//   - <app>-<n>.<app>-endpoints is unit <app>/<n>'s: in UNIT mode only that unit may ask for it, in APP mode the
//     application may (it serves all its units);
//   - a service name (one label under the model) is the application's: any of its units, or the app, may ask;
//   - any other name under a service (a wildcard *.<app>-endpoints, which covers every unit, or a sibling's
//     FQDN) is the application's as a whole: only an APP-mode request may carry it.
//
// IP addresses (SANs, and a CN that is one) are bound to the unit whose address Juju publishes them as: Juju writes
// every unit's ingress-address and private-address into its databag of each relation (on Kubernetes the
// application's service address, the same for all its units: pod IPs are in no databag), and the leader keeps the
// certificates relations' remote databags in the request cache (requests.go). An address of a unit there is that
// unit's: in UNIT mode only that unit may ask for it, in APP mode its application. Addresses of no known unit
// (the authority's own pods, other charms' pods not related on certificates, anything outside) are not bound
// here: allow-ip-sans and allowed-ip-ranges govern them. Reading the addresses costs no hook tool: they are the
// cache's (kept up to date by the relation hooks), read only for a request with an address to check.

// foreignName is a requested name the requester does not own, with who does.
type foreignName struct {
	Name  string
	Owner string // "unit b/0", "application b" (under b-endpoints), or "the application of service b"
}

// remoteAppRE is how Juju names a cross-model requirer's application on the offering side.
var remoteAppRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^remote-[0-9a-f]{32}$`) })

// foreignClusterNames returns the names of csr (DNS SANs, and a CN that is a host name) that are cluster names of
// model but not from's, and the IP addresses (SANs, and an IP CN) that are another unit's: from is a unit name
// ("a/0", UNIT mode) or an application name (APP mode). addrs gives the units of each known unit address; it is
// called only when csr carries an address, and may be nil.
func foreignClusterNames(csr *x509.CertificateRequest, model, from string, addrs func() map[netip.Addr][]string) []foreignName {
	app, unit, isUnit := strings.Cut(from, "/")
	ownApp := app
	if remoteAppRE().MatchString(app) {
		app = "" // owns nothing in this model
	}
	type name struct {
		s      string
		single bool // a single label may be bound
	}
	names := make([]name, 0, len(csr.DNSNames)+1)
	for _, n := range csr.DNSNames {
		names = append(names, name{n, true})
	}
	ips := make([]netip.Addr, 0, len(csr.IPAddresses)+1)
	for _, ip := range csr.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			ips = append(ips, a.Unmap())
		}
	}
	if cn := csr.Subject.CommonName; cn != "" {
		if a, err := netip.ParseAddr(strings.TrimSpace(cn)); err == nil {
			ips = append(ips, a.Unmap())
		} else if strings.Contains(cn, ".") {
			names = append(names, name{cn, false})
		}
	}
	var out []foreignName
	seen := map[string]bool{}
	for _, nm := range names {
		n := normalizeName(nm.s)
		if seen[n] {
			continue
		}
		seen[n] = true
		labels, ok := underModel(n, model, nm.single)
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
		out = append(out, foreignName{Name: nm.s, Owner: ownerText(labels)})
	}
	if len(ips) == 0 || addrs == nil {
		return out
	}
	known := addrs()
	seenIP := map[netip.Addr]bool{}
	for _, ip := range ips {
		owners := known[ip]
		if seenIP[ip] || len(owners) == 0 {
			continue
		}
		seenIP[ip] = true
		mine := slices.ContainsFunc(owners, func(u string) bool {
			if isUnit {
				return u == from
			}
			a, _, _ := strings.Cut(u, "/")
			return a == ownApp
		})
		if !mine {
			out = append(out, foreignName{Name: ip.String(), Owner: "unit " + strings.Join(owners, ", unit ")})
		}
	}
	return out
}

// localhost is the one single label that names no service: requirers put it in their SANs for local clients.
const localhost = "localhost"

// underModel gives the labels before the model in n (the service last), or false when n is not a cluster name of
// model (see the forms above). single tells whether a single label counts (a DNS SAN, not a CN).
func underModel(n, model string, single bool) ([]string, bool) {
	model = strings.ToLower(model)
	if model == "" || n == "" {
		return nil, false
	}
	for _, suffix := range []string{"." + model + ".svc.cluster.local", "." + model + ".svc"} {
		if rest, ok := strings.CutSuffix(n, suffix); ok && rest != "" {
			return strings.Split(rest, "."), true
		}
	}
	if rest, ok := strings.CutSuffix(n, "."+model); ok && rest != "" {
		if labels := strings.Split(rest, "."); len(labels) <= 2 {
			return labels, true
		}
		return nil, false
	}
	labels := strings.Split(n, ".")
	switch {
	case len(labels) == 2 && strings.HasSuffix(labels[1], "-endpoints") && labels[1] != "-endpoints" && labels[0] != "":
		return labels, true
	case len(labels) == 1 && single && n != localhost && n != "*":
		return labels, true
	}
	return nil, false
}

// unitAddresses gives the units of each address in the remote unit databags of the certificates relations the
// request cache knows (ingress-address, private-address): in memory, or in the cache directory, which a leader
// keeps for every relation it served. No hook tool runs.
func (c *requestCache) unitAddresses() map[netip.Addr][]string {
	if c.dir != "" {
		if entries, err := os.ReadDir(c.dir); err == nil {
			for _, e := range entries {
				base, ok := strings.CutSuffix(e.Name(), ".json")
				if i := strings.LastIndex(base, "-"); ok && i > 0 && !strings.HasPrefix(base, ".") {
					c.load(base[:i] + ":" + base[i+1:]) // kept in memory for the next request
				}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[netip.Addr][]string{}
	for _, b := range c.mem {
		for _, u := range b.unitNames() {
			bag := b.bag(u)
			for _, k := range []string{"ingress-address", "private-address"} {
				a, err := netip.ParseAddr(strings.TrimSpace(bag[k]))
				if err != nil {
					continue
				}
				if a = a.Unmap(); !slices.Contains(out[a], u) {
					out[a] = append(out[a], u)
				}
			}
		}
	}
	for _, us := range out {
		slices.Sort(us)
	}
	return out
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
