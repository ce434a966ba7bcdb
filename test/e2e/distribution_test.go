package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"

	"github.com/otelcol-biz/otelcol-biz/config"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			_, _ = os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// TestDefaultConfigRoundTrip starts the binary with no flags (embedded
// config/local.yaml, endpoints moved by env vars so parallel runs don't
// clash), sends a trace and a log over OTLP gRPC and OTLP HTTP with the OTel
// Go SDK exporters, and finds all four in the file exporter's output.
func TestDefaultConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ep, env := localEnv(t)
	grpcAddr, httpAddr, healthAddr := ep.grpc, ep.http, ep.health
	col := startCollector(t, dir, env)
	col.waitHealthy(t, "http://"+healthAddr+"/")
	assert.Contains(t, col.output.String(), "running the embedded default")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	grpcTraces, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	httpTraces, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure())
	require.NoError(t, err)
	grpcLogs, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(grpcAddr), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	httpLogs, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(httpAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)

	sendTraceAndLog(ctx, t, "grpc", grpcTraces, grpcLogs)
	sendTraceAndLog(ctx, t, "http", httpTraces, httpLogs)

	wantSpans := map[string]bool{"e2e-grpc-span": false, "e2e-http-span": false}
	wantLogs := map[string]bool{"e2e-grpc-log": false, "e2e-http-log": false}
	require.Eventually(t, func() bool {
		forEachLine(t, filepath.Join(dir, "data", "traces.json"), func(line []byte) {
			td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
			require.NoError(t, err)
			eachSpan(td, func(s ptrace.Span) {
				if _, ok := wantSpans[s.Name()]; ok {
					wantSpans[s.Name()] = true
				}
			})
		})
		forEachLine(t, filepath.Join(dir, "data", "logs.json"), func(line []byte) {
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
			require.NoError(t, err)
			eachLog(ld, func(r plog.LogRecord) {
				if _, ok := wantLogs[r.Body().AsString()]; ok {
					wantLogs[r.Body().AsString()] = true
				}
			})
		})
		return allTrue(wantSpans) && allTrue(wantLogs)
	}, 30*time.Second, 200*time.Millisecond, "spans %v logs %v", wantSpans, wantLogs)

	// The prometheus exporter and the health check answer on their ports.
	resp, err := http.Get("http://" + healthAddr + "/")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func sendTraceAndLog(ctx context.Context, t *testing.T, transport string, spans sdktrace.SpanExporter, logs sdklog.Exporter) {
	t.Helper()
	res := resource.NewSchemaless(attribute.String("service.name", "e2e-"+transport))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithResource(res))
	spanCtx, span := tp.Tracer("e2e").Start(ctx, "e2e-"+transport+"-span")
	span.SetAttributes(attribute.String("order_id", "ORD-1"))
	span.End()
	require.NoError(t, tp.Shutdown(ctx))

	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs)), sdklog.WithResource(res))
	var rec otellog.Record
	rec.SetBody(otellog.StringValue("e2e-" + transport + "-log"))
	rec.SetSeverity(otellog.SeverityInfo)
	lp.Logger("e2e").Emit(spanCtx, rec)
	require.NoError(t, lp.Shutdown(ctx))
}

func forEachLine(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return
	}
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			fn(line)
		}
	}
}

func eachSpan(td ptrace.Traces, fn func(ptrace.Span)) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				fn(s)
			}
		}
	}
}

func eachLog(ld plog.Logs, fn func(plog.LogRecord)) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				fn(r)
			}
		}
	}
}

func allTrue(m map[string]bool) bool {
	for _, v := range m {
		if !v {
			return false
		}
	}
	return true
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// TestComponents checks that `otelcol-biz components` lists every component
// the distribution promises (issue "Distribution foundation").
func TestComponents(t *testing.T) {
	out, err := runBinary(t, "components")
	require.NoError(t, err, out)
	for _, name := range []string{
		// receivers
		"otlp", "kafka", "durable_kafka", "file_log", "kubelet_stats", "host_metrics",
		// processors
		"batch", "memory_limiter", "tail_sampling", "transform", "attributes", "resource",
		"filter", "k8s_attributes", "resource_detection", "groupbytrace",
		"biz_dye", "log_correlation", "bucket_tuner", "metric_guard", "span_guard",
		// connectors
		"span_metrics", "forward", "gnn_root_cause",
		// exporters
		"otlp_grpc", "otlp_http", "debug", "file", "prometheus", "kafka", "loki",
		// extensions
		"healthcheckv2", "health_check", "pprof", "zpages", "file_storage", "request_guard",
		"bearertokenauth", "basicauth",
	} {
		assert.True(t, strings.Contains(out, "- name: "+name+"\n"), "component %q missing from `components`", name)
	}
	for _, scheme := range []string{"env", "file", "yaml"} {
		assert.True(t, strings.Contains(out, "- scheme: "+scheme+"\n"), "confmap provider %q missing from `components`", scheme)
	}
}

// TestValidateConfigs runs `otelcol-biz validate` on every file in config/
// and on the embedded default.
func TestValidateConfigs(t *testing.T) {
	configs, err := filepath.Glob(filepath.Join(repoRoot(), "config", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, configs)
	for _, c := range configs {
		t.Run(filepath.Base(c), func(t *testing.T) {
			// kubelet_stats' serviceAccount auth reads the pod's CA when
			// created (as validate does): off a cluster, auth_type none
			out, err := runBinary(t, "validate", "--config="+c, "--config="+config.OffCluster)
			require.NoError(t, err, out)
		})
	}
	t.Run("embedded default", func(t *testing.T) {
		out, err := runBinary(t, "validate")
		require.NoError(t, err, out)
	})
}

// TestValidateRejectsBrokenConfig checks that a broken config fails validate
// with a message that names the offending key.
func TestValidateRejectsBrokenConfig(t *testing.T) {
	const base = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [%s]
      exporters: [debug]
processors:
`
	tests := []struct {
		name       string
		processors string
		pipeline   string
		wantErr    []string
	}{
		{
			name:       "unknown key",
			processors: "  batch:\n    send_batch_sizee: 10\n",
			pipeline:   "batch",
			wantErr:    []string{"batch", "send_batch_sizee"},
		},
		{
			name:       "invalid value",
			processors: "  memory_limiter:\n    check_interval: 0s\n    limit_mib: 100\n",
			pipeline:   "memory_limiter",
			wantErr:    []string{"memory_limiter", "check_interval"},
		},
		{
			name:       "biz_dye regex without value group",
			processors: "  biz_dye:\n    keys:\n      - name: order_id\n        from: [{regex: {attribute: k, pattern: 'ORD-[0-9]+'}}]\n",
			pipeline:   "biz_dye",
			wantErr:    []string{"biz_dye", "'keys[0].from[0]' (order_id): 'regex.pattern'", "(?P<value>...)"},
		},
		{
			name:       "biz_dye zero bound",
			processors: "  biz_dye:\n    keys: [{name: order_id, from: [{attribute: order_id}]}]\n    max_traces: 0\n",
			pipeline:   "biz_dye",
			wantErr:    []string{"biz_dye", "'max_traces' must be greater than 0"},
		},
		{
			name:       "undefined component in pipeline",
			processors: "  batch:\n",
			pipeline:   "batch, tail_sampling/missing",
			wantErr:    []string{"tail_sampling/missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "broken.yaml")
			cfg := strings.Replace(base, "%s", tt.pipeline, 1) + tt.processors
			require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
			out, err := runBinary(t, "validate", "--config="+path)
			require.Error(t, err, "validate accepted a broken config:\n%s", cfg)
			for _, want := range tt.wantErr {
				assert.Contains(t, out, want)
			}
		})
	}
}
