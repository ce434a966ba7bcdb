package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"

	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadata"
)

const (
	defaultBroker            = "127.0.0.1:9092"
	defaultClientID          = "otelcol-biz"
	defaultGroupID           = "otelcol-biz-gateway"
	defaultSessionTimeout    = 10 * time.Second
	defaultHeartbeatInterval = 3 * time.Second
	defaultTracesTopic       = "otelcol_biz_spans"
	defaultLogsTopic         = "otelcol_biz_logs"
	defaultMetricsTopic      = "otelcol_biz_metrics"
	// defaultMaxDepth matches request_guard: room for attribute values
	// nested about 60 levels, a few hundred KiB of decoder stack at most.
	defaultMaxDepth       = 128
	defaultCommitInterval = time.Second
	// defaultMaxInflightRecords is about ten seconds of a busy partition:
	// enough to ride out a hold of a few seconds without pausing.
	defaultMaxInflightRecords = 10000
	// defaultMaxInflightBytes keeps wire bytes held per signal well inside
	// the gateway's memory_limiter (decoded pdata is a few times larger).
	defaultMaxInflightBytes       = 64 << 20
	defaultBackOffInitialInterval = 100 * time.Millisecond
	defaultBackOffMaxInterval     = 5 * time.Second
)

// NewFactory returns the durable_kafka receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(metadata.Type, createDefaultConfig,
		receiver.WithTraces(createTraces, metadata.TracesStability),
		receiver.WithLogs(createLogs, metadata.LogsStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	backOff := configretry.NewDefaultBackOffConfig()
	backOff.InitialInterval = defaultBackOffInitialInterval
	backOff.MaxInterval = defaultBackOffMaxInterval
	backOff.MaxElapsedTime = 0
	return &Config{
		Brokers:            []string{defaultBroker},
		ClientID:           defaultClientID,
		GroupID:            defaultGroupID,
		InitialOffset:      InitialOffsetLatest,
		SessionTimeout:     defaultSessionTimeout,
		HeartbeatInterval:  defaultHeartbeatInterval,
		Traces:             TopicConfig{Topic: defaultTracesTopic},
		Logs:               TopicConfig{Topic: defaultLogsTopic},
		Metrics:            TopicConfig{Topic: defaultMetricsTopic},
		MaxDepth:           defaultMaxDepth,
		CommitInterval:     defaultCommitInterval,
		MaxInflightRecords: defaultMaxInflightRecords,
		MaxInflightBytes:   defaultMaxInflightBytes,
		ErrorBackOff:       backOff,
		TLS:                configoptional.Default(configtls.NewDefaultClientConfig()),
		SASL:               configoptional.None[SASLConfig](),
	}
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	c := cfg.(*Config)
	return newReceiver(set, c, c.Traces.Topic, signalTraces, func(obs *receiverhelper.ObsReport) handler {
		return tracesHandler{next: next, obs: obs}
	})
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	c := cfg.(*Config)
	return newReceiver(set, c, c.Logs.Topic, signalLogs, func(obs *receiverhelper.ObsReport) handler {
		return logsHandler{next: next, obs: obs}
	})
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c := cfg.(*Config)
	return newReceiver(set, c, c.Metrics.Topic, signalMetrics, func(obs *receiverhelper.ObsReport) handler {
		return metricsHandler{next: next, obs: obs}
	})
}
