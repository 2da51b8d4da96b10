package tracing

import (
	"encoding/json"
	"testing"
)

// The provider's databag as TracingProviderAppData.dump writes it (tempo-coordinator-k8s-operator,
// lib/charms/tempo_coordinator_k8s/v0/tracing.py, LIBPATCH 8: publish_receivers).
func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, receivers, want string
		wantErr               bool
	}{
		{"no databag yet", "", "", false},
		{"otlp_http", `[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "tempo:4317"}, {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318"}]`,
			"http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318/v1/traces", false},
		{"first of two, trailing slash", `[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "https://traefik/cos-tempo/"}, {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://other:4318"}]`,
			"https://traefik/cos-tempo/v1/traces", false},
		{"path already there", `[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://t:4318/v1/traces"}]`, "http://t:4318/v1/traces", false},
		{"only grpc", `[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "tempo:4317"}]`, "", false},
		{"no scheme", `[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "tempo:4318"}]`, "", true},
		{"garbage", `{"receivers": 3`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bag := map[string]string{}
			if tc.receivers != "" {
				bag[KeyReceivers] = tc.receivers
			}
			got, err := Endpoint(bag)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("Endpoint = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TracingRequirerAppData(receivers=["otlp_http"]).dump: one key, its value the JSON list.
func TestRequirerAppData(t *testing.T) {
	bag := RequirerAppData(OTLPHTTP)
	var got []string
	if len(bag) != 1 || json.Unmarshal([]byte(bag[KeyReceivers]), &got) != nil || len(got) != 1 || got[0] != "otlp_http" {
		t.Errorf("RequirerAppData = %v", bag)
	}
}
