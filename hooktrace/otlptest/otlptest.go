// Package otlptest is a real OTLP/HTTP trace receiver for tests: an HTTP server on the loopback that accepts what
// an OTLP/HTTP exporter posts to /v1/traces (a protobuf ExportTraceServiceRequest, as the OTLP specification has
// it), decodes it with the OTLP protobuf types and keeps every span it received. It answers as a collector does:
// 200 with an empty protobuf ExportTraceServiceResponse, 415 for another content type, 400 for a body that does
// not decode.
package otlptest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span with the resource it came with, its attributes flattened to strings.
type Span struct {
	Name     string
	Resource map[string]string
	Attrs    map[string]string
	Status   tracepb.Status_StatusCode
	Message  string
	Start    uint64 // Unix nanoseconds
	End      uint64
	TraceID  []byte
}

// Receiver is the server. URL is its base URL (what Tempo publishes as the otlp_http receiver's url).
type Receiver struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	spans    []Span
	requests int
}

// New starts a receiver; Close stops it.
func New() *Receiver {
	r := &Receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.export)
	r.srv = httptest.NewServer(mux)
	r.URL = r.srv.URL
	return r
}

// Close stops the server.
func (r *Receiver) Close() { r.srv.Close() }

// Spans returns the spans received so far, in the order they arrived.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Requests is the number of export requests decoded.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func (r *Receiver) export(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range msg.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					Name: s.GetName(), Resource: res, Attrs: attrs(s.GetAttributes()),
					Status: s.GetStatus().GetCode(), Message: s.GetStatus().GetMessage(),
					Start: s.GetStartTimeUnixNano(), End: s.GetEndTimeUnixNano(), TraceID: s.GetTraceId(),
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.requests++
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{}) // an empty message always marshals
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		default:
			m[kv.GetKey()] = v.GetStringValue()
		}
	}
	return m
}
