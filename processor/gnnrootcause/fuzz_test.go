package gnnrootcause

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
)

// FuzzConsume feeds arbitrary OTLP protobuf (spans, logs, pod metrics) to
// the connector's three inputs, twice an hour of windows apart so windows
// close and are ranked: nothing panics and every call returns.
func FuzzConsume(f *testing.F) {
	shop := shopTraffic(rand.New(rand.NewPCG(1, 1)), t0, 5, map[string]float64{"gateway": 5, "order": 20}, true)
	tb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(shop)
	require.NoError(f, err)
	ld := plog.NewLogs()
	r := ld.ResourceLogs().AppendEmpty()
	r.Resource().Attributes().PutStr("service.name", "order")
	rec := r.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.SetSeverityNumber(plog.SeverityNumberError)
	rec.SetTimestamp(shop.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).StartTimestamp())
	rec.Body().SetStr("payment timeout after 3000 ms order_id=ORD-1")
	lb, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(f, err)
	md := pmetric.NewMetrics()
	g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("k8s.pod.cpu.usage")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(0.5)
	mb, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	require.NoError(f, err)
	f.Add(tb, lb, mb)
	f.Add([]byte{}, lb, []byte{})
	f.Fuzz(func(t *testing.T, tb, lb, mb []byte) {
		td, terr := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(tb)
		ld, lerr := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(lb)
		md, merr := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(mb)
		if terr != nil && lerr != nil && merr != nil {
			t.Skip()
		}
		clock := clockwork.NewFakeClockAt(t0.Add(time.Hour))
		ctx := clockwork.AddToContext(context.Background(), clock)
		cfg := createDefaultConfig().(*Config)
		cfg.MaxServices, cfg.MaxEdges = 8, 16
		set := connectortest.NewNopSettings(metadata.Type)
		set.ID = component.NewIDWithName(metadata.Type, "fuzz")
		f := NewFactory()
		traces, err := f.CreateTracesToLogs(ctx, set, cfg, &consumertest.LogsSink{})
		require.NoError(t, err)
		logs, err := f.CreateLogsToLogs(ctx, set, cfg, &consumertest.LogsSink{})
		require.NoError(t, err)
		metrics, err := f.CreateMetricsToLogs(ctx, set, cfg, &consumertest.LogsSink{})
		require.NoError(t, err)
		for _, c := range []component.Component{traces, logs, metrics} {
			require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
		}
		for range 2 {
			if terr == nil {
				c := ptrace.NewTraces()
				td.CopyTo(c)
				require.NoError(t, traces.ConsumeTraces(ctx, c))
			}
			if lerr == nil {
				c := plog.NewLogs()
				ld.CopyTo(c)
				require.NoError(t, logs.ConsumeLogs(ctx, c))
			}
			if merr == nil {
				c := pmetric.NewMetrics()
				md.CopyTo(c)
				require.NoError(t, metrics.ConsumeMetrics(ctx, c))
			}
			require.NoError(t, Settle(ctx, traces))
			clock.Advance(time.Hour)
		}
		for _, c := range []component.Component{traces, logs, metrics} {
			require.NoError(t, c.Shutdown(ctx))
		}
	})
}
