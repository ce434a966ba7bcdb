package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-biz/otelcol-biz/internal/sharedcomponent"
	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadata"
)

const (
	defaultPrefix            = "biz."
	defaultWait              = 2 * time.Second
	defaultMaxBufferedSpans  = 200_000
	defaultMaxBufferedLogs   = 100_000
	defaultMaxTraces         = 1_000_000
	defaultTTL               = 10 * time.Minute
	defaultMaxValuesPerKey   = 8
	defaultMaxValueLength    = 128
	defaultLinkAsync         = true
	defaultMaxAsyncProducers = 100_000
	defaultMaxPendingParents = 100_000
	defaultMaxServices       = 256
	defaultKeepAttribute     = "biz.keep"
	defaultSnapshotInterval  = 30 * time.Second
	defaultDecisionWait      = 10 * time.Second
	defaultSlowThreshold     = time.Second
	defaultSamplePercentage  = 10
)

// instances shares one biz_dye between the traces and logs pipelines that
// use the same component id, so logs see the keys their trace's spans found.
var instances = sharedcomponent.NewMap[component.ID, *bizDye]()

// NewFactory returns the biz_dye processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Prefix:            defaultPrefix,
		Wait:              defaultWait,
		MaxBufferedSpans:  defaultMaxBufferedSpans,
		MaxBufferedLogs:   defaultMaxBufferedLogs,
		MaxTraces:         defaultMaxTraces,
		TTL:               defaultTTL,
		MaxValuesPerKey:   defaultMaxValuesPerKey,
		MaxValueLength:    defaultMaxValueLength,
		LinkAsync:         defaultLinkAsync,
		MaxAsyncProducers: defaultMaxAsyncProducers,
		MaxPendingParents: defaultMaxPendingParents,
		MaxServices:       defaultMaxServices,
		Keep:              KeepConfig{Attribute: defaultKeepAttribute},
		SnapshotInterval:  defaultSnapshotInterval,
		Sampling: configoptional.Default(SamplingConfig{
			DecisionWait:  defaultDecisionWait,
			KeepErrors:    true,
			SlowThreshold: defaultSlowThreshold,
			Percentage:    defaultSamplePercentage,
		}),
	}
}

func shared(set processor.Settings, cfg component.Config) (*sharedcomponent.Component[*bizDye], error) {
	return instances.LoadOrStore(set.ID, func() (*bizDye, error) {
		return newBizDye(set.ID, set.TelemetrySettings, cfg.(*Config), clockwork.NewRealClock())
	})
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	c, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextTraces = next
	return &tracesProcessor{Component: c}, nil
}

func createLogs(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	c, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextLogs = next
	return &logsProcessor{Component: c}, nil
}

type tracesProcessor struct {
	*sharedcomponent.Component[*bizDye]
}

func (p *tracesProcessor) Capabilities() consumer.Capabilities { return p.Unwrap().Capabilities() }

func (p *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return p.Unwrap().ConsumeTraces(ctx, td)
}

type logsProcessor struct {
	*sharedcomponent.Component[*bizDye]
}

func (p *logsProcessor) Capabilities() consumer.Capabilities { return p.Unwrap().Capabilities() }

func (p *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return p.Unwrap().ConsumeLogs(ctx, ld)
}
