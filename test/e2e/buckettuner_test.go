package e2e

import (
	"bufio"
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// spanMetricsDefault: span_metrics' default explicit bounds, in seconds.
var spanMetricsDefault = []float64{0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1, 1.4, 2, 5, 10, 15}

// TestBucketTuner runs the embedded default (span_metrics with exponential
// histograms -> bucket_tuner -> prometheus exporter), sends spans with
// log-normal durations (median 40 ms), and scrapes the exporter until the
// duration histogram comes out on tuned boundaries: not span_metrics'
// defaults, at most 16 finite bounds, counts adding up.
func TestBucketTuner(t *testing.T) {
	dir := t.TempDir()
	ep, env := localEnv(t, "BIZ_SPANMETRICS_FLUSH_INTERVAL=500ms", "BIZ_BUCKET_TUNER_LEARN_FOR=1s", "BIZ_DYE_WAIT=100ms")
	grpcAddr, healthAddr, promAddr := ep.grpc, ep.health, ep.prometheus
	col := startCollector(t, dir, env)
	col.waitHealthy(t, "http://"+healthAddr+"/")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "checkout"))))
	rng := rand.New(rand.NewPCG(1, 1))
	send := func(n int) {
		now := time.Now()
		for range n {
			d := time.Duration(0.040 * math.Exp(0.6*rng.NormFloat64()) * float64(time.Second))
			_, s := tp.Tracer("e2e").Start(ctx, "GET /api/items", trace.WithTimestamp(now.Add(-d)), trace.WithSpanKind(trace.SpanKindServer))
			s.End(trace.WithTimestamp(now))
		}
		require.NoError(t, tp.ForceFlush(ctx))
	}

	var bounds []float64
	var total float64
	require.Eventually(t, func() bool {
		send(200)
		bounds, total = scrapeDurationBuckets(t, "http://"+promAddr+"/metrics", "checkout")
		return len(bounds) > 0 && !slices.Equal(bounds, spanMetricsDefault)
	}, 45*time.Second, 500*time.Millisecond, "the duration histogram never came out on tuned boundaries (last: %v)", bounds)
	require.NoError(t, tp.Shutdown(ctx))
	t.Logf("tuned bounds: %v", bounds)
	assert.LessOrEqual(t, len(bounds), 16)
	assert.GreaterOrEqual(t, len(bounds), 8)
	assert.Positive(t, total)
	// the tuned boundaries surround the 40 ms median, unlike the defaults' 10 ms -> 50 ms gap
	var inside int
	for _, b := range bounds {
		if b > 0.01 && b < 0.05 {
			inside++
		}
	}
	assert.GreaterOrEqual(t, inside, 3, "bounds %v", bounds)
}

// scrapeDurationBuckets returns the finite `le` bounds and the +Inf count of
// the span duration histogram of service svc.
func scrapeDurationBuckets(t *testing.T, url, svc string) ([]float64, float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil, 0
	}
	defer resp.Body.Close()
	var bounds []float64
	var inf float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "traces_span_metrics_duration_seconds_bucket{") || !strings.Contains(line, `service_name="`+svc+`"`) {
			continue
		}
		i := strings.Index(line, `le="`)
		if i < 0 {
			continue
		}
		le := line[i+4 : i+4+strings.IndexByte(line[i+4:], '"')]
		if le == "+Inf" {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			inf = v
			continue
		}
		v, err := strconv.ParseFloat(le, 64)
		require.NoError(t, err)
		if !slices.Contains(bounds, v) {
			bounds = append(bounds, v)
		}
	}
	slices.Sort(bounds)
	return bounds, inf
}
