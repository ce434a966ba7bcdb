package bizdyeprocessor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzConsumeTraces feeds arbitrary OTLP protobuf to both consume paths,
// with and without sampling (keeping every trace): nothing panics, and every
// span and log comes out exactly once.
func FuzzConsumeTraces(f *testing.F) {
	for _, gc := range goldenCases {
		for _, st := range gc.steps {
			if st.traces != (ptrace.Traces{}) {
				b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(st.traces)
				require.NoError(f, err)
				f.Add(b, []byte{}, false)
				f.Add(b, []byte{}, true)
			}
			if st.logs != (plog.Logs{}) {
				b, err := (&plog.ProtoMarshaler{}).MarshalLogs(st.logs)
				require.NoError(f, err)
				f.Add([]byte{}, b, false)
			}
		}
	}
	f.Fuzz(func(t *testing.T, tb, lb []byte, sample bool) {
		td, terr := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(tb)
		ld, lerr := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(lb)
		if terr != nil && lerr != nil {
			t.Skip()
		}
		cfg := testConfig()
		cfg.MaxBufferedSpans, cfg.MaxBufferedLogs, cfg.MaxTraces = 4, 4, 4
		if sample {
			cfg.Sampling = configoptional.Some(SamplingConfig{DecisionWait: 2 * time.Second, Percentage: 100})
		}
		h := newHarness(t, cfg, component.TelemetrySettings{})
		spans, records := 0, 0
		for range 2 { // twice: the second pass takes the registry's fast path
			if terr == nil {
				c := ptrace.NewTraces()
				td.CopyTo(c)
				spans += c.SpanCount()
				require.NoError(t, h.p.ConsumeTraces(context.Background(), c))
			}
			if lerr == nil {
				c := plog.NewLogs()
				ld.CopyTo(c)
				records += c.LogRecordCount()
				require.NoError(t, h.p.ConsumeLogs(context.Background(), c))
			}
			h.advance(time.Second)
		}
		require.NoError(t, h.p.Shutdown(context.Background()))
		require.Equal(t, spans, h.traces.SpanCount())
		require.Equal(t, records, h.logs.LogRecordCount())
	})
}

// FuzzMatchers: the rule matchers never panic and only return text that
// was in their input.
func FuzzMatchers(f *testing.F) {
	f.Add("user_tier=vip, order_id=ORD%2D1;p=1", "/api/orders/ORD-1?x=1", "ts order_id=ORD-2 done")
	f.Add("=,;%", "http://h/api/orders/ORD-3", "")
	f.Add("order_id=%zz", "/api/orders/{id}", "order_id=")
	tmpl, err := parseURLTemplate("/api/orders/{value}")
	require.NoError(f, err)
	e := newExtractor(testConfig())
	f.Fuzz(func(t *testing.T, baggage, path, body string) {
		if v := baggageMember(baggage, "order_id"); v != "" && !strings.Contains(baggage, "order_id") {
			t.Fatalf("baggage value %q from %q", v, baggage)
		}
		if v := matchURLTemplate(tmpl, path); v != "" && !strings.Contains(path, v) {
			t.Fatalf("url value %q not in %q", v, path)
		}
		fd := newFound(len(e.keyNames))
		e.scanBody(body, fd)
		for _, v := range fd.value {
			if !strings.Contains(body, v) {
				t.Fatalf("body value %q not in %q", v, body)
			}
		}
		vals, _ := fd.appendTo(e, nil)
		d := ""
		for _, kv := range vals {
			d, _, _ = dyeAdd(d, kv, 8)
			require.True(t, dyeHas(d, kv.key, kv.value))
		}
	})
}

// FuzzSnapshots loads arbitrary bytes as the registry's and the producer
// index's snapshots (storage can hold a file cut short by a crash, or
// damaged): nothing panics, and neither table grows past its bound.
func FuzzSnapshots(f *testing.F) {
	keys := testConfig().Keys
	reg := newTraceRegistry(4, keys)
	names := newServiceNames(8)
	x := newProducerIndex(4, keys)
	for i, order := range []string{"ORD-1", "ORD-2", "ORD-3"} {
		id := tid(order)
		slot, _ := reg.add(id, 1)
		*reg.at(slot) = newTraceEntry(flagReleased, dyeOf(order))
		x.add(producerRef{trace: id, span: sid(order), kind: ptrace.SpanKindProducer, service: names.id("order"), pending: i == 1}, dyeOf(order), "")
	}
	f.Add(reg.encode(1))
	f.Add(x.encode(reg.header, names.name))
	v1 := []byte(producersMagicV1 + reg.header)
	for range keys {
		v1 = append(v1, 1, 0)
	}
	f.Add(append(v1, 6, 0, 'O', 'R', 'D', '-', '1'))
	f.Fuzz(func(t *testing.T, buf []byte) {
		r := newTraceRegistry(4, keys)
		_, _ = r.decode(buf, 1, 60)
		require.LessOrEqual(t, r.table.len(), 4)
		p := newProducerIndex(4, keys)
		_, _ = p.decode(buf, r.header, newServiceNames(8).id)
		require.LessOrEqual(t, p.refs.len(), 4)
	})
}
