package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/otelcol-biz/otelcol-biz/internal/sharedcomponent"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
)

const (
	defaultWindow            = 30 * time.Second
	defaultBaseline          = 10 * time.Minute
	defaultTopK              = 5
	defaultMaxServices       = 2000
	defaultMaxEdges          = 20000
	defaultMaxOperations     = 20000
	defaultMaxPods           = 20000
	defaultMaxSpansPerWindow = 500_000
	defaultMaxLogTemplates   = 20000
	defaultMaxMetricSeries   = 2 * defaultMaxPods // CPU and memory of every pod
	defaultMaxLateness       = 10 * time.Second
	defaultMaxFuture         = time.Hour
	defaultMinAnomaly        = 3.0
	defaultMethod            = MethodGNN
	defaultIdleFlush         = 45 * time.Second
)

// defaultCPUMetrics and defaultMemoryMetrics are kubeletstats' and the
// container metrics' names for pod CPU and memory, and the names the Nezha
// replay gives its samples.
var (
	defaultCPUMetrics    = []string{"k8s.pod.cpu.usage", "k8s.pod.cpu_limit_utilization", "container.cpu.usage", "k8s.pod.cpu.utilization"}
	defaultMemoryMetrics = []string{"k8s.pod.memory.usage", "k8s.pod.memory_limit_utilization", "container.memory.usage", "k8s.pod.memory.working_set"}
)

// NewFactory returns the gnn_root_cause connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithTracesToLogs(createTracesToLogs, metadata.TracesToLogsStability),
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability),
		connector.WithLogsToLogs(createLogsToLogs, metadata.LogsToLogsStability),
		connector.WithLogsToMetrics(createLogsToMetrics, metadata.LogsToMetricsStability),
		connector.WithMetricsToLogs(createMetricsToLogs, metadata.MetricsToLogsStability),
		connector.WithMetricsToMetrics(createMetricsToMetrics, metadata.MetricsToMetricsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Window:            defaultWindow,
		Baseline:          defaultBaseline,
		TopK:              defaultTopK,
		MaxServices:       defaultMaxServices,
		MaxEdges:          defaultMaxEdges,
		MaxOperations:     defaultMaxOperations,
		MaxPods:           defaultMaxPods,
		MaxSpansPerWindow: defaultMaxSpansPerWindow,
		MaxLogTemplates:   defaultMaxLogTemplates,
		MaxMetricSeries:   defaultMaxMetricSeries,
		MaxLateness:       defaultMaxLateness,
		MaxFuture:         defaultMaxFuture,
		MinAnomaly:        defaultMinAnomaly,
		Method:            defaultMethod,
		CPUMetrics:        append([]string(nil), defaultCPUMetrics...),
		MemoryMetrics:     append([]string(nil), defaultMemoryMetrics...),
		IdleFlush:         defaultIdleFlush,
	}
}

// instances holds one connector per component id: every pipeline naming
// it shares one engine.
var instances = sharedcomponent.NewMap[component.ID, *rca]()

// shared returns the instance of set.ID, creating it on first use with the
// clock from ctx (clockwork.AddToContext; the real clock by default).
func shared(ctx context.Context, set connector.Settings, cfg component.Config) (*sharedcomponent.Component[*rca], error) {
	return instances.LoadOrStore(set.ID, func() (*rca, error) {
		return newRCA(set, cfg.(*Config), clockwork.FromContext(ctx))
	})
}

// outputs wires the next consumer of a pipeline into the shared instance
// and returns the consumer for the input signal.
func outputs(ctx context.Context, set connector.Settings, cfg component.Config, in pipeline.Signal, logs consumer.Logs, metrics consumer.Metrics) (input, error) {
	c, err := shared(ctx, set, cfg)
	if err != nil {
		return input{}, err
	}
	return input{Component: c, ingest: c.Unwrap().wire(in, logs, metrics)}, nil
}

func createTracesToLogs(ctx context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	c, err := outputs(ctx, set, cfg, pipeline.SignalTraces, next, nil)
	return &tracesIn{c}, err
}

func createTracesToMetrics(ctx context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	c, err := outputs(ctx, set, cfg, pipeline.SignalTraces, nil, next)
	return &tracesIn{c}, err
}

func createLogsToLogs(ctx context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Logs, error) {
	c, err := outputs(ctx, set, cfg, pipeline.SignalLogs, next, nil)
	return &logsIn{c}, err
}

func createLogsToMetrics(ctx context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	c, err := outputs(ctx, set, cfg, pipeline.SignalLogs, nil, next)
	return &logsIn{c}, err
}

func createMetricsToLogs(ctx context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
	c, err := outputs(ctx, set, cfg, pipeline.SignalMetrics, next, nil)
	return &metricsIn{c}, err
}

func createMetricsToMetrics(ctx context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Metrics, error) {
	c, err := outputs(ctx, set, cfg, pipeline.SignalMetrics, nil, next)
	return &metricsIn{c}, err
}
