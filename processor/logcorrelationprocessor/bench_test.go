package logcorrelationprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// benchMix is a realistic edge mix: half the lines carry no id (health
// checks, startup, library noise), the rest the common layouts.
var benchMix = []string{
	"2026-11-21 12:00:01.123 INFO [main] o.s.b.w.embedded.tomcat.TomcatWebServer : Tomcat started on port 8080 (http) with context path ''",
	"2026-11-21T12:00:01.123Z INFO GET /health 200 0.4ms user_agent=kube-probe/1.30",
	`{"level":"info","ts":1763726401.123,"caller":"cache/lru.go:88","msg":"cache hit","key":"sku:SKU-9","ratio":0.93}`,
	"12:00:01.123 [pool-3-thread-7] DEBUG c.zaxxer.hikari.pool.HikariPool - HikariPool-1 - Pool stats (total=10, active=2, idle=8, waiting=0)",
	"12:00:01.123 [main] [" + w3cTrace + "] INFO  c.e.shop.OrderService - order created",
	"2026-11-21 12:00:01,123 INFO  [http-nio-8080-exec-1] c.e.shop.PaymentService: charged trace_id=" + w3cTrace + " span_id=" + w3cSpan + " trace_flags=01",
	`{"level":"info","ts":1763726401.123,"caller":"payment/charge.go:57","msg":"charged","trace_id":"` + w3cTrace + `","span_id":"` + w3cSpan + `"}`,
	`127.0.0.1 - - [21/Nov/2026:12:00:01 +0000] "GET /api/orders/ORD-42 HTTP/1.1" 200 512 "-" "curl/8.5" traceparent=00-` + w3cTrace + "-" + w3cSpan + "-01",
}

func benchLogs(lines []string, n int) plog.Logs {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := range n {
		r := sl.LogRecords().AppendEmpty()
		r.Body().SetStr(lines[i%len(lines)])
		r.Attributes().PutStr("log.file.name", "app.log")
	}
	return ld
}

func benchRecords(b *testing.B, lines []string) {
	c, err := newCorrelator(componenttest.NewNopTelemetrySettings(), createDefaultConfig().(*Config))
	require.NoError(b, err)
	const batch = 1024
	ld := benchLogs(lines, batch)
	ctx := context.Background()
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		// clear what the previous round set, so every round does the full work
		for _, r := range ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
			r.SetTraceID([16]byte{})
		}
		_, _ = c.processLogs(ctx, ld)
		records += batch
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMix: the built-in extractors over the realistic mix. Bar: >= 2M records/s per core.
func BenchmarkMix(b *testing.B) { benchRecords(b, benchMix) }

// BenchmarkNoID: lines without any id. Bar: 0 allocs.
func BenchmarkNoID(b *testing.B) { benchRecords(b, benchMix[:4]) }

// BenchmarkWithID: lines that all carry ids.
func BenchmarkWithID(b *testing.B) { benchRecords(b, benchMix[4:]) }
