// Package obs is the observability plumbing every service uses: JSON logs on
// log/slog (with client-go's klog routed into them), OpenTelemetry tracer and
// meter providers, and the HTTP endpoints /metrics, /healthz and /readyz.
package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"k8s.io/klog/v2"
)

// NewLogger returns a JSON logger for service and routes klog into it.
func NewLogger(w io.Writer, level slog.Level, service string) *slog.Logger {
	l := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("service", service)
	klog.SetSlogLogger(l.With("logger", "klog"))
	return l
}

// ParseLevel reads debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// Telemetry holds the process's tracer and meter providers and the
// Prometheus registry /metrics serves.
type Telemetry struct {
	Registry *prometheus.Registry
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
}

// TelemetryOptions configure Setup.
type TelemetryOptions struct {
	Service string
	// OTLPEndpoint, when set (from OTEL_EXPORTER_OTLP_ENDPOINT), exports
	// traces over OTLP/HTTP.
	OTLPEndpoint string
}

// Setup installs global tracer and meter providers.
func Setup(ctx context.Context, o TelemetryOptions) (*Telemetry, error) {
	res := resource.NewSchemaless(semconv.ServiceName(o.Service))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o.OTLPEndpoint != "" {
		te, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(o.OTLPEndpoint+"/v1/traces"))
		if err != nil {
			return nil, fmt.Errorf("otlp exporter %s: %w", o.OTLPEndpoint, err)
		}
		topts = append(topts, sdktrace.WithBatcher(te))
	}
	tp := sdktrace.NewTracerProvider(topts...)
	otel.SetMeterProvider(mp)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return &Telemetry{Registry: reg, tp: tp, mp: mp}, nil
}

// Shutdown flushes and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}

// Health tracks readiness: each component reports itself ready or not.
// /healthz answers while the process runs; /readyz only when every
// registered component is ready.
type Health struct {
	mu    sync.Mutex
	state map[string]error
}

// NewHealth returns an empty tracker.
func NewHealth() *Health { return &Health{state: map[string]error{}} }

// Register adds a component that is not ready until Set(name, nil).
func (h *Health) Register(name string) {
	h.Set(name, errors.New("starting"))
}

// Set records a component's readiness: nil is ready.
func (h *Health) Set(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state[name] = err
}

// Ready returns nil when every component is ready, else why not.
func (h *Health) Ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var bad []string
	for n, err := range h.state {
		if err != nil {
			bad = append(bad, n+": "+err.Error())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return errors.New(strings.Join(bad, "; "))
}

// Handler serves /metrics, /healthz and /readyz.
func Handler(reg *prometheus.Registry, h *Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// Serve listens on addr ("" disables it) until ctx ends, then shuts down
// within 5 seconds.
func Serve(ctx context.Context, addr string, handler http.Handler, log *slog.Logger) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	log.Info("http listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
