package otlp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/tls-authority/tls-authority/hooktrace"
	"github.com/tls-authority/tls-authority/hooktrace/otlptest"
	"github.com/tls-authority/tls-authority/interfaces/tracing"
)

// A hook's span reaches a real OTLP/HTTP receiver, decoded from the protobuf request: its name is the hook's, its
// times the hook's, its resource the unit's topology, and a failed hook's span carries the error.
func TestExportReachesReceiver(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	url, err := tracing.Endpoint(map[string]string{tracing.KeyReceivers: `[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "` + rcv.URL + `"}]`})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		hook, err string
		want      tracepb.Status_StatusCode
	}{
		{"certificates-relation-joined", "", tracepb.Status_STATUS_CODE_OK},
		{"update-status", "cannot read config: boom", tracepb.Status_STATUS_CODE_ERROR},
	} {
		h := hooktrace.Hook{Name: tc.hook, Dispatch: "hooks/" + tc.hook, Unit: "tls-authority/2", Model: "m", ModelUUID: "uuid-1",
			Charm: "tls-authority", Start: start, End: start.Add(150 * time.Millisecond), Error: tc.err,
			ToolCalls: map[string]int{"relation-get": 2, "is-leader": 1}}
		if err := Export(context.Background(), url, h); err != nil {
			t.Fatal(err)
		}
		spans := rcv.Spans()
		s := spans[len(spans)-1]
		if s.Name != tc.hook || s.Status != tc.want || s.Message != tc.err {
			t.Errorf("span %q status %v %q, want %q %v %q", s.Name, s.Status, s.Message, tc.hook, tc.want, tc.err)
		}
		if s.Start != uint64(start.UnixNano()) || s.End != uint64(start.Add(150*time.Millisecond).UnixNano()) {
			t.Errorf("span times %d..%d, want the hook's", s.Start, s.End)
		}
		if s.Resource["service.name"] != "tls-authority" || s.Resource["juju_unit"] != "tls-authority/2" || s.Resource["juju_model_uuid"] != "uuid-1" {
			t.Errorf("resource %v", s.Resource)
		}
		if s.Attrs["juju.hook_tool_calls.relation-get"] != "2" || s.Attrs["juju.dispatch_path"] != "hooks/"+tc.hook {
			t.Errorf("attributes %v", s.Attrs)
		}
	}
	if rcv.Requests() != 2 {
		t.Errorf("%d export requests, want one per hook", rcv.Requests())
	}
}

// A receiver that refuses, or none at all, is an error within the timeout: the caller logs it, the hook goes on.
func TestExportFails(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer refuse.Close()
	// A receiver that never answers: its handler returns when the test ends, so that Close does not wait on it.
	hang := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer silent.Close()
	defer close(hang)
	for _, url := range []string{refuse.URL + "/v1/traces", silent.URL + "/v1/traces", "http://127.0.0.1:1/v1/traces"} {
		begin := time.Now()
		err := Export(context.Background(), url, hooktrace.Hook{Name: "x", Unit: "a/0", Start: begin, End: begin})
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want an export error", url, err)
		}
		if d := time.Since(begin); d > Timeout+time.Second {
			t.Errorf("%s: took %v, more than the timeout", url, d)
		}
	}
}
