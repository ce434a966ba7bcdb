package e2e

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// spanSink is an OTLP gRPC traces server standing in for Jaeger: it counts
// every span id it receives, so a test sees what was lost and duplicated.
type spanSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu   sync.Mutex
	seen map[pcommon.SpanID]int
	addr string
	srv  *grpc.Server
}

func startSpanSink(t *testing.T) *spanSink {
	t.Helper()
	s := &spanSink{seen: map[pcommon.SpanID]int{}, addr: freeAddr(t)}
	s.start(t)
	return s
}

// start serves on s.addr (again, after stop: a backend outage).
func (s *spanSink) start(t *testing.T) {
	t.Helper()
	lis, err := net.Listen("tcp", s.addr)
	require.NoError(t, err)
	s.srv = grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(s.srv, s)
	go func() { _ = s.srv.Serve(lis) }()
	t.Cleanup(s.srv.Stop)
}

func (s *spanSink) stop() { s.srv.Stop() }

func (s *spanSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	eachSpan(req.Traces(), func(sp ptrace.Span) { s.seen[sp.SpanID()]++ })
	return ptraceotlp.NewExportResponse(), nil
}

// tally compares the spans sent with the spans received.
func (s *spanSink) tally(sent []pcommon.SpanID) (delivered, lost, duplicated int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range sent {
		if n := s.seen[id]; n == 0 {
			lost++
		} else {
			delivered++
			duplicated += n - 1
		}
	}
	return delivered, lost, duplicated
}

// startLogSink is an OTLP/HTTP logs endpoint standing in for Loki.
func startLogSink(t *testing.T) string { return startLogRecorder(t, nil).url }

// logRecorder is an OTLP/HTTP logs endpoint standing in for Loki that hands
// every request's logs to record (nil: discarded).
type logRecorder struct {
	url    string
	mu     sync.Mutex
	record func(plog.Logs) // called with mu held
}

func startLogRecorder(t *testing.T, record func(plog.Logs)) *logRecorder {
	t.Helper()
	lis, err := net.Listen("tcp", freeAddr(t))
	require.NoError(t, err)
	s := &logRecorder{url: "http://" + lis.Addr().String() + "/otlp", record: record}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" { // the otlp_http exporter's default
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			in = gz
		}
		body, err := io.ReadAll(in)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if s.record != nil {
			req := plogotlp.NewExportRequest()
			if err := req.UnmarshalProto(body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			s.mu.Lock()
			s.record(req.Logs())
			s.mu.Unlock()
		}
		resp, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// load sends traces of 3 spans (ids numbered from 1) to an OTLP gRPC
// endpoint, 20 traces a request, retrying a refused request as an SDK does
// (bounded), and records the span ids of every accepted request.
type load struct {
	client ptraceotlp.GRPCClient
	mu     sync.Mutex
	sent   []pcommon.SpanID
	next   uint64
}

func newLoad(t *testing.T, endpoint string) *load {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &load{client: ptraceotlp.NewGRPCClient(conn)}
}

// send sends n traces at about perSecond traces a second.
func (l *load) send(t *testing.T, n, perSecond int) {
	t.Helper()
	const perRequest = 20
	tick := time.NewTicker(time.Second * perRequest / time.Duration(perSecond))
	defer tick.Stop()
	for sent := 0; sent < n; sent += perRequest {
		<-tick.C
		td, ids := l.batch(perRequest)
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = l.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
			cancel()
			if err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.NoError(t, err, "the agent kept refusing a request")
		l.mu.Lock()
		l.sent = append(l.sent, ids...)
		l.mu.Unlock()
	}
}

func (l *load) batch(traces int) (ptrace.Traces, []pcommon.SpanID) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	var ids []pcommon.SpanID
	for range traces {
		l.next++
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], 0xb12)
		binary.BigEndian.PutUint64(tid[8:], l.next*0x9e3779b97f4a7c15) // spread over partitions
		for i := range 3 {
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], l.next*4+uint64(i))
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			if i > 0 {
				var parent pcommon.SpanID
				binary.BigEndian.PutUint64(parent[:], l.next*4)
				sp.SetParentSpanID(parent)
			}
			sp.SetName(fmt.Sprintf("step-%d", i))
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			sp.Attributes().PutStr("order_id", fmt.Sprintf("ORD-%d", l.next))
			ids = append(ids, sid)
		}
	}
	return td, ids
}

func (l *load) accepted() []pcommon.SpanID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pcommon.SpanID(nil), l.sent...)
}

// kill9 kills the process (SIGKILL) and waits for its exit; the exit stays
// readable for the cleanup that stops it.
func (c *collector) kill9(t *testing.T) {
	t.Helper()
	require.NoError(t, syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL))
	exit := <-c.done
	c.done <- exit
}

// reliabilityStack is kafka + agent + gateways on loopback, with sinks for
// Jaeger and Loki.
type reliabilityStack struct {
	kafka, loki, agentGRPC string
	jaeger                 *spanSink
	agentDir, agentHealth  string
	agentProcess           *collector
	agentEnv               []string // extra env of the agent
	agentOverlays          []string // extra config/overlays files of the agent
	gatewayOverlays        []string // and of the gateways
	stateDirs              []string
}

func startReliabilityStack(t *testing.T) *reliabilityStack {
	t.Helper()
	st := &reliabilityStack{kafka: startKafka(t), jaeger: startSpanSink(t), loki: startLogSink(t),
		agentGRPC: freeAddr(t), agentDir: t.TempDir(), agentHealth: freeAddr(t)}
	st.agentProcess = st.agent(t)
	return st
}

// agent starts the agent (again: same ports, same persistent queue).
func (st *reliabilityStack) agent(t *testing.T) *collector {
	t.Helper()
	agent := startCollector(t, st.agentDir, append([]string{
		"BIZ_KAFKA_BROKERS=" + st.kafka,
		"BIZ_OTLP_GRPC_ENDPOINT=" + st.agentGRPC,
		"BIZ_OTLP_HTTP_ENDPOINT=" + freeAddr(t),
		"BIZ_HEALTH_ENDPOINT=" + st.agentHealth,
		"BIZ_PPROF_ENDPOINT=" + freeAddr(t),
		"BIZ_TELEMETRY_PORT=" + portOf(freeAddr(t)),
		"BIZ_QUEUE_DIR=" + filepath.Join(st.agentDir, "queue"),
		"BIZ_CHECKPOINT_DIR=" + filepath.Join(st.agentDir, "checkpoints"),
		"BIZ_POD_LOG_DIR=" + filepath.Join(st.agentDir, "pods"),
	}, st.agentEnv...), configArgs("agent.yaml", append([]string{"agent-local.yaml"}, st.agentOverlays...)...)...)
	agent.waitHealthy(t, "http://"+st.agentHealth+"/")
	return agent
}

// gateway starts gateway replica i (its state directory survives restarts).
func (st *reliabilityStack) gateway(t *testing.T, i int) *collector {
	t.Helper()
	return st.gatewayWith(t, i)
}

// gatewayWith starts gateway replica i with extra env vars.
func (st *reliabilityStack) gatewayWith(t *testing.T, i int, env ...string) *collector {
	t.Helper()
	for len(st.stateDirs) <= i {
		st.stateDirs = append(st.stateDirs, t.TempDir())
	}
	health := freeAddr(t)
	gw := startCollector(t, st.stateDirs[i], append([]string{
		"BIZ_KAFKA_BROKERS=" + st.kafka,
		"BIZ_KAFKA_INITIAL_OFFSET=earliest",
		"BIZ_KAFKA_SESSION_TIMEOUT=6s",
		"BIZ_JAEGER_OTLP_ENDPOINT=" + st.jaeger.addr,
		"BIZ_LOKI_OTLP_ENDPOINT=" + st.loki,
		"BIZ_OTLP_GRPC_ENDPOINT=" + freeAddr(t),
		"BIZ_OTLP_HTTP_ENDPOINT=" + freeAddr(t),
		"BIZ_PROMETHEUS_ENDPOINT=" + freeAddr(t),
		"BIZ_HEALTH_ENDPOINT=" + health,
		"BIZ_PPROF_ENDPOINT=" + freeAddr(t),
		"BIZ_TELEMETRY_PORT=" + portOf(freeAddr(t)),
		"BIZ_STATE_DIR=" + st.stateDirs[i],
		"BIZ_SAMPLING_PERCENT=100",
		"BIZ_TAIL_DECISION_WAIT=3s",
		"BIZ_DYE_WAIT=2s",
	}, env...), configArgs("gateway.yaml", st.gatewayOverlays...)...)
	gw.waitHealthy(t, "http://"+health+"/")
	return gw
}

// configArgs are the --config flags of config/<base> with config/overlays/<overlays>.
func configArgs(base string, overlays ...string) []string {
	args := []string{"--config=" + filepath.Join(repoRoot(), "config", base)}
	for _, o := range overlays {
		args = append(args, "--config="+filepath.Join(repoRoot(), "config", "overlays", o))
	}
	return args
}

// waitDelivered waits (bounded) until every accepted span reached Jaeger's
// stand-in, and reports the tally.
func (st *reliabilityStack) waitDelivered(t *testing.T, sent []pcommon.SpanID, within time.Duration) {
	t.Helper()
	var delivered, lost, duplicated int
	assert.Eventually(t, func() bool {
		delivered, lost, duplicated = st.jaeger.tally(sent)
		return lost == 0
	}, within, 500*time.Millisecond)
	t.Logf("spans sent %d, delivered %d, lost %d, duplicated %d", len(sent), delivered, lost, duplicated)
	assert.Zero(t, lost)
}

// TestGatewayKill9Restart: the gateway is killed (SIGKILL) while it holds
// traces in biz_dye and restarted 5 s later: every span the agent accepted
// reaches Jaeger (duplicates allowed and reported, none lost).
func TestGatewayKill9Restart(t *testing.T) {
	st := startReliabilityStack(t)
	gw := st.gateway(t, 0)
	l := newLoad(t, st.agentGRPC)
	l.send(t, 1200, 200)
	gw.kill9(t)
	l.send(t, 600, 200) // the agent keeps taking traffic meanwhile
	time.Sleep(2 * time.Second)
	st.gateway(t, 0)
	l.send(t, 600, 200)
	st.waitDelivered(t, l.accepted(), 90*time.Second)
}

// TestGatewayKill9Takeover: two gateways share the consumer group; one is
// killed and never comes back: the other takes its partitions over after the
// session timeout and delivers what the dead one had not.
func TestGatewayKill9Takeover(t *testing.T) {
	st := startReliabilityStack(t)
	gw := st.gateway(t, 0)
	st.gateway(t, 1)
	l := newLoad(t, st.agentGRPC)
	l.send(t, 1200, 200)
	gw.kill9(t)
	l.send(t, 1200, 200)
	st.waitDelivered(t, l.accepted(), 120*time.Second)
}

// TestBackendOutage: Jaeger is away for 60 s under load; the gateway stops
// consuming (its exports block, Kafka keeps the data) and delivers everything
// once Jaeger is back.
func TestBackendOutage(t *testing.T) {
	st := startReliabilityStack(t)
	st.gateway(t, 0)
	l := newLoad(t, st.agentGRPC)
	l.send(t, 600, 200)
	st.jaeger.stop()
	l.send(t, 3000, 50) // 60 s of traffic with Jaeger down
	st.jaeger.start(t)
	l.send(t, 600, 200)
	st.waitDelivered(t, l.accepted(), 120*time.Second)
}

// TestAgentKill9Restart: the agent is killed mid-stream and restarted 2 s
// later: everything it had accepted (on disk in its persistent queue, not in
// a batch processor) reaches Jaeger.
func TestAgentKill9Restart(t *testing.T) {
	st := startReliabilityStack(t)
	st.gateway(t, 0)
	agent := st.agentProcess
	l := newLoad(t, st.agentGRPC)
	l.send(t, 1200, 200)
	agent.kill9(t)
	time.Sleep(2 * time.Second)
	st.agent(t)
	l.send(t, 1200, 200)
	st.waitDelivered(t, l.accepted(), 90*time.Second)
}

// stop stops the process gracefully (SIGTERM) and waits for its exit; the
// exit stays readable for the cleanup.
func (c *collector) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM))
	select {
	case exit := <-c.done:
		c.done <- exit
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not stop within 60s of SIGTERM", c.name)
	}
}

// peakRSS is the process's peak resident set (VmHWM) in MiB.
func (c *collector) peakRSS(t *testing.T) float64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			_, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			require.NoError(t, err)
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestGatewaySIGTERMRestart: a rolling restart (SIGTERM, then start) under
// load loses nothing and duplicates nothing: the gateway waits for its held
// traces to be released and committed before it exits.
func TestGatewaySIGTERMRestart(t *testing.T) {
	st := startReliabilityStack(t)
	gw := st.gateway(t, 0)
	l := newLoad(t, st.agentGRPC)
	l.send(t, 1200, 200)
	start := time.Now()
	gw.stop(t)
	t.Logf("the gateway stopped %s after SIGTERM", time.Since(start).Round(100*time.Millisecond))
	st.gateway(t, 0)
	l.send(t, 600, 200)
	st.waitDelivered(t, l.accepted(), 90*time.Second)
}

// TestGatewayOverload: the gateway starts against a Kafka backlog (an
// overload without end: it can only go as fast as it can) with a small
// memory limit, its biz_dye hold sized for it as the README's sizing says:
// it delivers everything, stays under the limit and never crashes.
func TestGatewayOverload(t *testing.T) {
	const limitMiB = 400
	st := &reliabilityStack{kafka: startKafka(t), jaeger: startSpanSink(t), loki: startLogSink(t)}
	sent := produceBacklog(t, st.kafka, 100_000)
	gw := st.gatewayWith(t, 0, fmt.Sprintf("BIZ_MEMORY_LIMIT_MIB=%d", limitMiB), "BIZ_MEMORY_SPIKE_MIB=80", "BIZ_DYE_MAX_BUFFERED_SPANS=100000")
	start := time.Now()
	st.waitDelivered(t, sent, 240*time.Second)
	elapsed := time.Since(start)
	rss := gw.peakRSS(t)
	t.Logf("backlog of %d spans delivered in %s (%.0f spans/s), peak RSS %.0f MiB (limit %d MiB)",
		len(sent), elapsed.Round(time.Second), float64(len(sent))/elapsed.Seconds(), rss, limitMiB)
	assert.Less(t, rss, float64(limitMiB))
}

// produceBacklog writes traces of 3 spans straight to the spans topic as the
// agent's kafka exporter does (OTLP protobuf, keyed by trace id), 50 traces
// a record, and returns their span ids.
func produceBacklog(t *testing.T, kafka string, traces int) []pcommon.SpanID {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("otelcol_biz_spans"))
	require.NoError(t, err)
	defer cl.Close()
	l := &load{}
	var sent []pcommon.SpanID
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for n := 0; n < traces; n += 50 {
		td, ids := l.batch(50)
		value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		key := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
		cl.Produce(ctx, &kgo.Record{Key: key[:], Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("producing the backlog: %v", err)
			}
		})
		sent = append(sent, ids...)
	}
	require.NoError(t, cl.Flush(ctx))
	return sent
}

// TestAgentQueueFullIsRetryable: with Kafka away and the persistent queue
// full, the agent answers OTLP clients with a retryable UNAVAILABLE that
// says how long to wait (RetryInfo), instead of dropping what it accepted.
func TestAgentQueueFullIsRetryable(t *testing.T) {
	grpcAddr, health, dir := freeAddr(t), freeAddr(t), t.TempDir()
	agent := startCollector(t, dir, []string{
		"BIZ_KAFKA_BROKERS=" + freeAddr(t), // nothing listens: Kafka is down
		"BIZ_OTLP_GRPC_ENDPOINT=" + grpcAddr,
		"BIZ_OTLP_HTTP_ENDPOINT=" + freeAddr(t),
		"BIZ_HEALTH_ENDPOINT=" + health,
		"BIZ_PPROF_ENDPOINT=" + freeAddr(t),
		"BIZ_TELEMETRY_PORT=" + portOf(freeAddr(t)),
		"BIZ_QUEUE_DIR=" + filepath.Join(dir, "queue"),
		"BIZ_CHECKPOINT_DIR=" + filepath.Join(dir, "checkpoints"),
		"BIZ_POD_LOG_DIR=" + filepath.Join(dir, "pods"),
		"BIZ_QUEUE_SIZE=5",
	}, "--config="+filepath.Join(repoRoot(), "config", "agent.yaml"), "--config="+filepath.Join(repoRoot(), "config", "overlays", "agent-local.yaml"))
	agent.waitHealthy(t, "http://"+health+"/")
	l := newLoad(t, grpcAddr)
	var refusal error
	for i := 0; i < 200 && refusal == nil; i++ {
		td, _ := l.batch(20)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, refusal = l.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
	}
	require.Error(t, refusal, "200 requests into a queue of 5 with Kafka down")
	st := status.Convert(refusal)
	assert.Equal(t, codes.Unavailable, st.Code(), st.Message())
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	assert.Equal(t, time.Second, delay, "the refusal says when to retry")
}
