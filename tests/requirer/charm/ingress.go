package charm

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/tls-authority/tls-authority/hooktool"
)

// Backend is one unit a proxy forwards to, as the server reads it from BackendsPath.
type Backend struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Prefix routes the requests whose path starts with it to this backend: Traefik's per-unit route
	// "/<model>-<unit name with - for />".
	Prefix string `json:"prefix"`
}

// backendData is what a unit publishes in its databag of the ingress relation: the fields of Traefik's
// ingress_per_unit requirer unit databag (name, model, host, port, scheme) that a proxy needs to reach it.
func (r *reconciler) backendData() map[string]string {
	return map[string]string{
		"name":   r.hc.Env.UnitName,
		"model":  r.hc.Env.ModelName,
		"host":   UnitFQDN(r.hc.Env.UnitName, r.hc.Env.ModelName),
		"port":   strconv.Itoa(ServerPort),
		"scheme": r.scheme(),
	}
}

// scheme is what the server speaks: http when it serves plain HTTP (plain-http-without-certificates).
func (r *reconciler) scheme() string {
	if r.plain {
		return "http"
	}
	return "https"
}

// publishBackend writes this unit's address on its ingress relation when it is not there yet: one relation-get per
// hook, and a relation-set only on a change (each is a process and an RPC in Juju).
func (r *reconciler) publishBackend() error {
	ids, err := r.hc.RelationIDs(BackendEndpoint)
	if err != nil {
		return err
	}
	want := r.backendData()
	for _, id := range ids {
		have, err := r.hc.UnitData(id, r.hc.Env.UnitName)
		if err != nil {
			return err
		}
		same := true
		for k, v := range want {
			same = same && have[k] == v
		}
		if !same {
			if err := r.hc.SetUnitData(id, want); err != nil {
				return err
			}
		}
	}
	return nil
}

// backends are the units of the ingress-per-unit relations that published where to reach them, sorted by name. A
// unit that has not published yet is left out until it has.
func (r *reconciler) backends() ([]Backend, error) {
	ids, err := r.hc.RelationIDs(ProxyEndpoint)
	if err != nil {
		return nil, err
	}
	out := []Backend{}
	for _, id := range ids {
		units, err := r.hc.RelationUnits(id)
		if err != nil {
			return nil, err
		}
		for _, u := range units {
			d, err := r.hc.UnitData(id, u)
			if err != nil {
				return nil, err
			}
			scheme := d["scheme"]
			if scheme == "" {
				scheme = "http"
			}
			if d["host"] == "" || d["port"] == "" {
				continue
			}
			if _, err := strconv.ParseUint(d["port"], 10, 16); err != nil || (scheme != "https" && scheme != "http") {
				if err := r.hc.Log(hooktool.LevelWarning, "skipped backend %s: want scheme http or https and a port, got %q %q", u, scheme, d["port"]); err != nil {
					return nil, err
				}
				continue
			}
			model := d["model"]
			if model == "" {
				model = r.hc.Env.ModelName
			}
			out = append(out, Backend{Name: u, URL: fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(d["host"], d["port"])),
				Prefix: "/" + model + "-" + strings.ReplaceAll(u, "/", "-")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
