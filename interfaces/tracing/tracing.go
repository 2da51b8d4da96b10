// Package tracing holds the wire format of the tracing interface, version 2 (the Python library
// charms.tempo_coordinator_k8s.v0.tracing, LIBPATCH 8): the requirer's application databag says which receivers it
// wants, the provider's (Tempo's) application databag lists the receivers it runs, each with its URL. It makes no
// hook-tool call: every function is pure, so the parser can be fuzzed.
package tracing

import (
	"encoding/json"
	"fmt"
	"strings"
)

// KeyReceivers is the key of both sides' application databags (TracingRequirerAppData and
// TracingProviderAppData: a model dumped field by field, each value JSON).
const KeyReceivers = "receivers"

// OTLPHTTP is the receiver protocol the charm asks for and sends with: OTLP over HTTP (protobuf), the one the
// library's charm_tracing_config reads.
const OTLPHTTP = "otlp_http"

// TracesPath is what an OTLP/HTTP exporter appends to the receiver's URL (the OTLP specification's default for
// traces; charm_tracing appends the same).
const TracesPath = "/v1/traces"

// RequirerAppData is the requirer's application databag asking for protocols, as TracingRequirerAppData.dump
// writes it: {"receivers": "[\"otlp_http\"]"}. Only the leader writes it.
func RequirerAppData(protocols ...string) map[string]string {
	b, _ := json.Marshal(protocols) // a []string always marshals
	return map[string]string{KeyReceivers: string(b)}
}

// Receiver is one entry of the provider's list: Receiver(protocol=ProtocolType(name, type), url).
type Receiver struct {
	Protocol struct {
		Name string `json:"name"`
		Type string `json:"type"` // "http" or "grpc"
	} `json:"protocol"`
	URL string `json:"url"`
}

// Receivers parses the provider's application databag. An empty databag (Tempo has not answered yet) is no
// receivers and no error.
func Receivers(providerApp map[string]string) ([]Receiver, error) {
	raw := providerApp[KeyReceivers]
	if raw == "" {
		return nil, nil
	}
	var rs []Receiver
	if err := json.Unmarshal([]byte(raw), &rs); err != nil {
		return nil, fmt.Errorf("cannot parse the tracing provider's receivers: %w", err)
	}
	return rs, nil
}

// Endpoint is the URL an OTLP/HTTP exporter posts traces to, from the provider's databag: the first otlp_http
// receiver's URL (the library's _get_endpoint takes the first when there are several) followed by TracesPath. It is
// empty when the provider lists no such receiver. A URL that is not http(s) is an error: the library documents
// that only grpc receivers come without a scheme.
func Endpoint(providerApp map[string]string) (string, error) {
	rs, err := Receivers(providerApp)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.Protocol.Name != OTLPHTTP {
			continue
		}
		u := strings.TrimRight(r.URL, "/")
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return "", fmt.Errorf("cannot use the tracing provider's otlp_http receiver %q: not an http(s) URL", r.URL)
		}
		if !strings.HasSuffix(u, TracesPath) {
			u += TracesPath
		}
		return u, nil
	}
	return "", nil
}
