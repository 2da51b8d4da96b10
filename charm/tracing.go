package charm

// tracing.go owns the tracing endpoint (interface tracing, v2, to Tempo in COS; self-signed-certificates requires
// it too): the leader asks for an OTLP/HTTP receiver and keeps the URL Tempo publishes in the peer databag, which
// every hook of every unit reads anyway. dispatch sends the hook's span there when the URL is set (hooks/main.go),
// so a hook without the relation makes no call and starts no exporter for it.

import (
	"strings"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tracing"
)

// TracingEndpoint is the endpoint's name in metadata.yaml (and self-signed-certificates').
const TracingEndpoint = "tracing"

// peerTracing is the peer application databag's key holding the OTLP/HTTP traces URL, empty without a relation.
const peerTracing = "tracing-endpoint"

// syncTracing runs in the leader's hooks of the tracing endpoint, and in upgrade-charm (a revision that predates
// the endpoint may have missed its hooks): it asks for the otlp_http receiver and records the URL Tempo answers.
// Any other hook makes no call here.
func (r *reconciler) syncTracing() error {
	env := r.hc.Env
	if !r.leader || r.peerID == "" {
		return nil
	}
	relID, remote := "", ""
	switch {
	case env.RelationName == TracingEndpoint && strings.HasSuffix(env.HookName, "-relation-broken"):
		return r.setPeer(map[string]string{peerTracing: ""})
	case env.RelationName == TracingEndpoint:
		relID, remote = env.RelationID, env.RemoteApp
	case env.HookName == "upgrade-charm":
		ids, err := r.hc.RelationIDs(TracingEndpoint)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return r.setPeer(map[string]string{peerTracing: ""})
		}
		relID = ids[0] // limit: 1
		if remote, err = r.hc.RemoteApp(relID); err != nil {
			return err
		}
	default:
		return nil
	}
	// The library's leader writes the same on every hook (TracingEndpointRequirer's constructor); Juju wakes the
	// provider only when the value changes.
	if err := r.hc.SetAppData(relID, tracing.RequirerAppData(tracing.OTLPHTTP)); err != nil {
		return err
	}
	url := ""
	if remote != "" {
		bag, err := r.hc.AppData(relID, remote)
		if err != nil {
			return err
		}
		if url, err = tracing.Endpoint(bag); err != nil {
			// Bad data from Tempo: no tracing, one log line, the hook goes on.
			if err := r.hc.Log(hooktool.LevelWarning, "tracing off: %v", err); err != nil {
				return err
			}
			url = ""
		}
	}
	return r.setPeer(map[string]string{peerTracing: url})
}

// TracingURL is where this hook's span goes: the URL the leader recorded, as this hook last saw or staged it.
func (r *reconciler) tracingURL() string { return r.peer[peerTracing] }
