package buckettunerprocessor

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
)

// startPrometheus starts a real Prometheus exporter on a free loopback port,
// shut down when tb ends; it returns the exporter, its scrape URL and its
// log (where it reports the series it cannot serve).
func startPrometheus(tb testing.TB) (consumer.Metrics, string, *observer.ObservedLogs) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	endpoint := l.Addr().String()
	require.NoError(tb, l.Close())

	pf := prometheusexporter.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*prometheusexporter.Config)
	pcfg.NetAddr.Endpoint = endpoint
	set := exportertest.NewNopSettings(pf.Type())
	core, logs := observer.New(zapcore.WarnLevel)
	set.Logger = zap.New(core)
	exp, err := pf.CreateMetrics(context.Background(), set, pcfg)
	require.NoError(tb, err)
	require.NoError(tb, exp.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, exp.Shutdown(context.Background())) })
	return exp, fmt.Sprintf("http://%s/metrics", endpoint), logs
}

// newProcessor is the processor createMetrics builds, on clock.
func newProcessor(tb testing.TB, cfg *Config, clock clockwork.Clock, next consumer.Metrics) processor.Metrics {
	set := processortest.NewNopSettings(metadata.Type)
	tu, err := newTuner(set, cfg, clock)
	require.NoError(tb, err)
	p, err := processorhelper.NewMetrics(context.Background(), set, cfg, next, tu.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(tu.start), processorhelper.WithShutdown(tu.shutdown))
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

// cumulativeSeries is one span_metrics-like cumulative exponential series
// (scale 4) of log-normal latencies around median.
type cumulativeSeries struct {
	service string
	median  float64
	counts  map[int32]uint64
	sum     float64
}

func (s *cumulativeSeries) record(rng *rand.Rand, n int) {
	for range n {
		v := s.median * math.Exp(0.6*rng.NormFloat64())
		s.counts[int32(math.Ceil(math.Log2(v)*16))-1]++
		s.sum += v
	}
}

func (s *cumulativeSeries) appendTo(dps pmetric.ExponentialHistogramDataPointSlice, at pcommon.Timestamp) {
	lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
	for i := range s.counts {
		lo, hi = min(lo, i), max(hi, i)
	}
	buckets := make([]uint64, hi-lo+1)
	var total uint64
	for i, c := range s.counts {
		buckets[i-lo] = c
		total += c
	}
	dp := dps.AppendEmpty()
	dp.Attributes().PutStr("service.name", s.service)
	dp.SetStartTimestamp(ts0)
	dp.SetTimestamp(at)
	dp.SetScale(4)
	dp.Positive().SetOffset(lo)
	dp.Positive().BucketCounts().FromRaw(buckets)
	dp.SetCount(total)
	dp.SetSum(s.sum)
}

// scrapedHistogram is one series of a scraped histogram.
type scrapedHistogram struct {
	les   []string
	count float64
}

var (
	leLabel    = regexp.MustCompile(`,?le="[^"]*"`)
	leValue    = regexp.MustCompile(`le="([^"]*)"`)
	sampleLine = regexp.MustCompile(`^(\w+)(\{.*\})? (\S+)`)
)

// scrape fetches url and returns the series of histogram name by label set
// (without le); it fails unless the scrape answers 200.
func scrape(t *testing.T, url, name string) map[string]*scrapedHistogram {
	resp, err := http.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	series := map[string]*scrapedHistogram{}
	get := func(labels string) *scrapedHistogram {
		key := leLabel.ReplaceAllString(labels, "")
		if series[key] == nil {
			series[key] = &scrapedHistogram{count: math.NaN()}
		}
		return series[key]
	}
	for _, line := range strings.Split(string(body), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch m[1] {
		case name + "_bucket":
			h := get(m[2])
			h.les = append(h.les, leValue.FindStringSubmatch(m[2])[1])
		case name + "_count":
			v, err := strconv.ParseFloat(m[3], 64)
			require.NoError(t, err, line)
			get(m[2]).count = v
		}
	}
	return series
}

// TestPrometheusScrapesThroughLearning: span_metrics-like cumulative
// exponential histograms of two services go through bucket_tuner in auto
// mode WITHOUT provisional boundaries (the README's example) into a real
// Prometheus exporter, which is scraped after every batch, through the
// learning period and after it. Every scrape answers 200 and shows both
// series as classic histograms with finite buckets and a finite count, and
// the metric leaves bucket_tuner as an explicit histogram from the first
// point on. Before, it passed through as exponential while learning: the
// scrape showed only le="+Inf", then an exponential and an explicit series
// under one name, which the exporter cannot serve together.
func TestPrometheusScrapesThroughLearning(t *testing.T) {
	exp, url, logs := startPrometheus(t)
	var types []pmetric.MetricType
	tee, err := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		types = append(types, md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Type())
		return exp.ConsumeMetrics(ctx, md)
	})
	require.NoError(t, err)
	cfg := &Config{MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$", LearnFor: time.Minute}}}
	ruleDefaults(cfg)
	require.NoError(t, cfg.Validate())
	clock := clockwork.NewFakeClock()
	p := newProcessor(t, cfg, clock, tee)

	rng := rand.New(rand.NewPCG(11, 12))
	series := []*cumulativeSeries{
		{service: "checkout", median: 0.05, counts: map[int32]uint64{}},
		{service: "payment", median: 0.4, counts: map[int32]uint64{}},
	}
	const batches, interval = 10, 15 * time.Second // learning ends at the 5th batch
	var lastBounds []string
	for b := range batches {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("duration")
		m.SetUnit("s")
		eh := m.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for _, s := range series {
			s.record(rng, 500)
			s.appendTo(eh.DataPoints(), ts0+pcommon.Timestamp(b+1)*pcommon.Timestamp(interval))
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))

		got := scrape(t, url, "duration_seconds")
		for _, e := range logs.TakeAll() {
			require.Less(t, e.Level, zapcore.ErrorLevel, "batch %d: the exporter serves every series: %s", b, e.Message)
		}
		require.Len(t, got, len(series), "batch %d: one series per service, no duplicates", b)
		for key, h := range got {
			require.Greater(t, len(h.les), 1, "batch %d, %s: finite buckets, not only le=+Inf", b, key)
			require.Equal(t, "+Inf", h.les[len(h.les)-1])
			require.False(t, math.IsNaN(h.count) || math.IsInf(h.count, 0), "batch %d, %s: a finite count", b, key)
			require.Equal(t, float64(500*(b+1)), h.count, "batch %d, %s", b, key)
			lastBounds = h.les
		}
		clock.Advance(interval)
	}
	for b, typ := range types {
		assert.Equal(t, pmetric.MetricTypeHistogram, typ, "batch %d leaves bucket_tuner explicit", b)
	}
	assert.Len(t, lastBounds, cfg.Rules[0].MaxBuckets+1, "learned: max_buckets finite bounds and +Inf")
}
