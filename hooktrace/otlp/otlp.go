// Package otlp sends one hook's trace to Tempo over OTLP/HTTP with the OpenTelemetry Go SDK: a root span named
// after the hook (or action), from the dispatch process's start to its end, with the unit's Juju topology as its
// resource. It lives in its own binary (hooktrace/cmd/hooktrace), which the charm's dispatch runs only when the
// tracing relation has given an endpoint: linked into dispatch, the SDK doubled the binary and added 6 ms to the
// start of every hook, related or not.
package otlp

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tls-authority/tls-authority/hooktrace"
)

// Timeout bounds an export: a Tempo that does not answer delays a hook by this much at most, never fails it.
const Timeout = 2 * time.Second

// collector keeps the spans that end, so that Export sends them itself and sees the exporter's error (a batching
// or synchronous processor hands it to the SDK's global error handler instead).
type collector struct{ spans []sdktrace.ReadOnlySpan }

func (c *collector) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collector) OnEnd(s sdktrace.ReadOnlySpan)                   { c.spans = append(c.spans, s) }
func (c *collector) Shutdown(context.Context) error                  { return nil }
func (c *collector) ForceFlush(context.Context) error                { return nil }

// Export sends h's span to endpoint, the full OTLP/HTTP traces URL (interfaces/tracing.Endpoint), in one request
// and without retries.
func Export(ctx context.Context, endpoint string, h hooktrace.Hook) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	exp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithTimeout(Timeout),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
	)
	if err != nil {
		return fmt.Errorf("cannot make an OTLP exporter for %s: %w", endpoint, err)
	}
	defer exp.Shutdown(context.Background()) //nolint:errcheck // nothing is buffered: ExportSpans below sent it all
	app, _, _ := strings.Cut(h.Unit, "/")
	// The attribute names are the Juju topology Canonical's charm_tracing sets (service.name is the application).
	res := resource.NewSchemaless(
		attribute.String("service.name", app),
		attribute.String("juju_unit", h.Unit),
		attribute.String("juju_application", app),
		attribute.String("juju_model", h.Model),
		attribute.String("juju_model_uuid", h.ModelUUID),
		attribute.String("juju_charm", h.Charm),
	)
	col := &collector{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(col),
		sdktrace.WithSampler(sdktrace.AlwaysSample()))
	attrs := []attribute.KeyValue{attribute.String("juju.dispatch_path", h.Dispatch)}
	tools := make([]string, 0, len(h.ToolCalls))
	for k := range h.ToolCalls {
		tools = append(tools, k)
	}
	sort.Strings(tools)
	for _, k := range tools {
		attrs = append(attrs, attribute.Int("juju.hook_tool_calls."+k, h.ToolCalls[k]))
	}
	_, span := tp.Tracer(h.Charm).Start(ctx, h.Name, trace.WithTimestamp(h.Start), trace.WithAttributes(attrs...),
		trace.WithSpanKind(trace.SpanKindInternal))
	if h.Error != "" {
		span.SetStatus(codes.Error, h.Error)
	} else {
		span.SetStatus(codes.Ok, "")
	}
	span.End(trace.WithTimestamp(h.End))
	if err := exp.ExportSpans(ctx, col.spans); err != nil {
		return fmt.Errorf("cannot send the hook's trace to %s: %w", endpoint, err)
	}
	return nil
}
