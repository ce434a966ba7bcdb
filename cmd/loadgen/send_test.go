package main

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeCollector accepts spans, rejecting rejectSpans of each request, and
// refuses every logs request (a memory_limiter-like retryable refusal).
type fakeCollector struct {
	ptraceotlp.UnimplementedGRPCServer
	rejectSpans int64
	spans       atomic.Int64
}

func (f *fakeCollector) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	f.spans.Add(int64(req.Traces().SpanCount()))
	resp := ptraceotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedSpans(f.rejectSpans)
	return resp, nil
}

type refusingLogs struct {
	plogotlp.UnimplementedGRPCServer
}

func (*refusingLogs) Export(context.Context, plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	return plogotlp.NewExportResponse(), status.Error(codes.Unavailable, "memory limit reached")
}

func startFake(t *testing.T, f *fakeCollector) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, f)
	plogotlp.RegisterGRPCServer(srv, &refusingLogs{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

func TestOTLPSenderCountsAcceptedAndRefused(t *testing.T) {
	t.Parallel()
	f := &fakeCollector{rejectSpans: 6}
	s, err := newOTLPSender(startFake(t, f))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.close()) }()
	b := testEmitter(1, false, 2).next(100, fixedNow)
	o := s.send(context.Background(), b)
	assert.EqualValues(t, 94, o.spansOK)
	assert.EqualValues(t, 6, o.spansRefused)
	assert.EqualValues(t, 0, o.logsOK)
	assert.EqualValues(t, b.records, o.logsRefused)
	assert.Equal(t, codes.Unavailable, status.Code(o.err))
	assert.EqualValues(t, 100, f.spans.Load())
}

func TestRunStopsAfterDurationAndSummarizes(t *testing.T) {
	t.Parallel()
	f := &fakeCollector{}
	cfg, err := parseFlags([]string{"-endpoint", startFake(t, f), "-duration", "300ms", "-rate", "200", "-workers", "2", "-batch", "20"})
	require.NoError(t, err)
	start := time.Now()
	sum, err := run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 10*time.Second, "stops (a hang guard, not a timing check)")
	// Counts, not timing: the pacer lets a worker send its next batch only
	// once units/rate has passed, so whatever the machine's speed no more
	// than rate*elapsed flows plus each worker's last batch can have gone
	// out. A batch counts the flows started while it filled: about one per
	// 20 spans here (flows of ~22 spans, 10 ms apart in simulated time,
	// the same on every run), a few during warm-up.
	assert.Positive(t, sum.Traces)
	assert.LessOrEqual(t, float64(sum.Traces), 200*sum.Seconds+2*20, "-rate paces the flows")
	// An export in flight when the run stops is neither accepted nor
	// refused (the sender cannot know whether it arrived): at most one
	// batch of spans per worker.
	assert.LessOrEqual(t, sum.SpansAccepted, f.spans.Load())
	assert.LessOrEqual(t, f.spans.Load(), sum.SpansAccepted+2*20)
	assert.Contains(t, sum.format(false), "spans accepted")
	assert.Contains(t, sum.format(true), `"spans_accepted":`)
}

func TestParseFlagsRejectsBadValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-rate", "-1"}, {"-workers", "0"}, {"-services", "31"}, {"-split", "2"}, {"-no-traces"}, {"-duration", "0s"},
	} {
		_, err := parseFlags(args)
		assert.Error(t, err, "%v", args)
	}
	cfg, err := parseFlags([]string{"-kafka", "127.0.0.1:9092"})
	require.NoError(t, err)
	assert.True(t, cfg.setLogIDs, "Kafka gets what the agent writes: ids set by log_correlation")
}

func TestSplitByTraceID(t *testing.T) {
	t.Parallel()
	em := testEmitter(2, false, 2)
	em.setLogIDs = true
	b := em.next(300, fixedNow)
	parts := splitTraces(b.traces)
	total := 0
	for _, p := range parts {
		ids := map[string]bool{}
		rss := p.traces.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			spans := rss.At(i).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				ids[spans.At(k).TraceID().String()] = true
			}
		}
		assert.Equal(t, map[string]bool{string(p.key): true}, ids, "one trace per record, keyed by its id")
		total += p.traces.SpanCount()
	}
	assert.Equal(t, 300, total)
	logs := 0
	for _, p := range splitLogs(b.logs) {
		assert.Len(t, p.key, 32)
		logs += p.logs.LogRecordCount()
	}
	assert.Equal(t, b.records, logs)
}
