package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-biz/otelcol-biz/internal/histcheck"
	"github.com/otelcol-biz/otelcol-biz/internal/storageclient"
	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
)

// versionAttribute marks points written on retuned boundaries (version >= 2)
// so that Prometheus keeps them in new series: rate() over a series whose
// `le` labels changed would mix incomparable buckets.
const versionAttribute = "bucket_tuner.version"

type rule struct {
	cfg RuleConfig
	re  *regexp.Regexp
}

// metricState is what auto mode knows of one metric name.
type metricState struct {
	rule        *rule
	window      *ddsketch.DDSketch   // distribution seen since windowStart
	recent      []*ddsketch.DDSketch // the windows before it, newest first (at most historyWindows-1)
	windowStart time.Time
	bounds      []float64 // nil while learning
	version     int
	lastError   float64
	sp          *spreader
	provisional *spreader // while learning without configured boundaries: derived from the first usable exponential points
}

// persisted is a metric's boundaries in the storage extension.
type persisted struct {
	Version int       `json:"version"`
	Bounds  []float64 `json:"bounds"`
}

// logEvery is how often one reason for skipping points is logged at most.
const logEvery = time.Minute

type tuner struct {
	cfg        *Config
	logger     *zap.Logger
	sampled    *zap.Logger // one message per reason, each at most once per logEvery
	tel        *metadata.TelemetryBuilder
	reasonOpts [len(histcheck.Reasons)]metric.AddOption
	rules      []*rule
	static     map[*rule]*spreader
	clock      clockwork.Clock
	id         component.ID

	mu      sync.Mutex
	states  map[string]*metricState
	ruleOf  map[string]int // metric name -> rule index, -1: none (bounded with states)
	scratch []uint64
	client  storage.Client
}

func newTuner(set processor.Settings, cfg *Config, clock clockwork.Clock) (*tuner, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	t := &tuner{cfg: cfg, logger: set.Logger, tel: tel, clock: clock, id: set.ID,
		states: map[string]*metricState{}, ruleOf: map[string]int{}, static: map[*rule]*spreader{}}
	t.sampled = set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, logEvery, 1, 0)
	}))
	for i, r := range histcheck.Reasons {
		t.reasonOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
	}
	for _, rc := range cfg.Rules {
		r := &rule{cfg: rc, re: regexp.MustCompile(rc.Match)} // validated
		t.rules = append(t.rules, r)
		if len(rc.Boundaries) > 0 { // static boundaries, or auto mode's provisional ones
			t.static[r] = newSpreader(rc.Boundaries)
		}
	}
	err = tel.RegisterProcessorBucketTunerQuantileErrorCallback(func(_ context.Context, o metric.Float64Observer) error {
		t.mu.Lock()
		defer t.mu.Unlock()
		for name, st := range t.states {
			if st.bounds != nil {
				o.Observe(st.lastError, metric.WithAttributes(attribute.String("metric", name)))
			}
		}
		return nil
	})
	if err != nil {
		tel.Shutdown()
		return nil, err
	}
	return t, nil
}

func (t *tuner) start(ctx context.Context, host component.Host) error {
	if t.cfg.Storage == nil {
		return nil
	}
	client, err := storageclient.Get(ctx, host, *t.cfg.Storage, component.KindProcessor, t.id)
	if err != nil {
		return fmt.Errorf("bucket_tuner: %w", err)
	}
	t.client = client
	return nil
}

func (t *tuner) shutdown(ctx context.Context) error {
	t.tel.Shutdown()
	if t.client != nil {
		return t.client.Close(ctx)
	}
	return nil
}

// ruleFor returns the rule of a metric name, or nil.
func (t *tuner) ruleFor(name string) *rule {
	if i, ok := t.ruleOf[name]; ok {
		if i < 0 {
			return nil
		}
		return t.rules[i]
	}
	idx := -1
	for i, r := range t.rules {
		if r.re.MatchString(name) {
			idx = i
			break
		}
	}
	if len(t.ruleOf) < 4*t.cfg.MaxMetrics { // a cache: beyond it names are matched each time
		t.ruleOf[name] = idx
	}
	if idx < 0 {
		return nil
	}
	return t.rules[idx]
}

// counts are one batch's telemetry increments.
type counts struct {
	converted, learning, overflow int64
	notLearned                    histcheck.Counts
	retuned                       []string
}

func (t *tuner) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	var c counts
	t.mu.Lock()
	now := t.clock.Now()
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				t.process(ctx, m, now, &c)
			}
		}
	}
	t.mu.Unlock()
	if c.converted > 0 {
		t.tel.ProcessorBucketTunerDatapointsConverted.Add(ctx, c.converted)
	}
	if c.learning > 0 {
		t.tel.ProcessorBucketTunerLearningDatapoints.Add(ctx, c.learning)
	}
	if c.overflow > 0 {
		t.tel.ProcessorBucketTunerMetricsOverflow.Add(ctx, c.overflow)
	}
	for _, name := range c.retuned {
		t.tel.ProcessorBucketTunerRetunes.Add(ctx, 1, metric.WithAttributes(attribute.String("metric", name)))
	}
	for i, r := range histcheck.Reasons {
		if c.notLearned[i] > 0 {
			t.tel.ProcessorBucketTunerDatapointsNotLearned.Add(ctx, c.notLearned[i], t.reasonOpts[i])
			t.sampled.Warn("bucket_tuner: not learning from data points that break the OTLP data model: "+string(r),
				zap.String("reason", string(r)), zap.Int64("datapoints", c.notLearned[i]))
		}
	}
	return md, nil
}

func points(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	}
	return 0
}

func (t *tuner) process(ctx context.Context, m pmetric.Metric, now time.Time, c *counts) {
	n := points(m)
	if n == 0 {
		return
	}
	r := t.ruleFor(m.Name())
	if r == nil {
		return
	}
	if r.cfg.Mode == ModeTypeStatic {
		t.convert(m, r.cfg.Boundaries, t.static[r], 0)
		c.converted += int64(n)
		return
	}
	st := t.states[m.Name()]
	if st == nil {
		if len(t.states) >= t.cfg.MaxMetrics {
			c.overflow += int64(n)
			return
		}
		st = &metricState{rule: r, window: newSketch(), windowStart: now}
		t.states[m.Name()] = st
		t.load(ctx, m.Name(), st)
	}
	c.notLearned.Merge(learn(st.window, m))
	if now.Sub(st.windowStart) >= r.cfg.LearnFor {
		t.evaluate(ctx, m.Name(), st, c)
		st.window, st.recent = nextWindow(st.window, st.recent)
		st.windowStart = now
	}
	if st.bounds == nil {
		c.learning += int64(n)
		t.convertLearning(m, st)
		return
	}
	t.convert(m, st.bounds, st.sp, st.version)
	c.converted += int64(n)
}

// evaluate ends a window: it chooses the first boundaries at the end of the
// learning period, and later retunes when the error measured on the window
// exceeds the threshold. Boundaries are chosen for the expected error over
// this window and the few before it, each shifted by up to +-25% (see
// chooseBounds): on the benchmark's real services this follows drift
// better than boundaries from the last window alone (median p99 error
// 2.8%) or from a decayed merge of the windows (3.4-4.9%).
func (t *tuner) evaluate(ctx context.Context, name string, st *metricState, c *counts) {
	q := st.rule.cfg.Quantiles
	if st.window.IsEmpty() {
		return
	}
	if st.bounds != nil {
		st.lastError = quantileError(st.window, st.bounds, q)
		if st.lastError <= st.rule.cfg.RetuneWhenErrorAbove {
			return
		}
	}
	bounds := chooseBounds(append([]*ddsketch.DDSketch{st.window}, st.recent...), st.rule.cfg.MaxBuckets, q)
	if len(bounds) == 0 || histcheck.Bounds(bounds) != histcheck.ReasonNone || sameBounds(bounds, st.bounds) {
		return // nothing learned, or nothing a histogram could carry
	}
	st.bounds, st.sp = bounds, newSpreader(bounds)
	st.version++
	st.lastError = quantileError(st.window, bounds, q)
	c.retuned = append(c.retuned, name)
	t.logger.Info("bucket_tuner: new boundaries", zap.String("metric", name), zap.Int("version", st.version),
		zap.Float64s("boundaries", bounds), zap.Float64("quantile_error", st.lastError))
	t.save(ctx, name, st)
}

func storageKey(name string) string { return "bounds/" + name }

func (t *tuner) load(ctx context.Context, name string, st *metricState) {
	if t.client == nil {
		return
	}
	b, err := t.client.Get(ctx, storageKey(name))
	if err != nil || b == nil {
		return
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil || len(p.Bounds) == 0 || histcheck.Bounds(p.Bounds) != histcheck.ReasonNone {
		t.logger.Warn("bucket_tuner: ignoring unreadable stored boundaries; learning again", zap.String("metric", name), zap.Error(err))
		return
	}
	st.bounds, st.sp, st.version = p.Bounds, newSpreader(p.Bounds), p.Version
}

func (t *tuner) save(ctx context.Context, name string, st *metricState) {
	if t.client == nil {
		return
	}
	b, _ := json.Marshal(persisted{Version: st.version, Bounds: st.bounds}) // plain struct: cannot fail
	if err := t.client.Set(ctx, storageKey(name), b); err != nil {
		t.logger.Warn("bucket_tuner: cannot persist boundaries; a restart will learn again", zap.String("metric", name), zap.Error(err))
	}
}

// convertLearning writes a metric that is still learning on provisional
// boundaries, so that each series keeps one type from its first point: the
// rule's `boundaries`, else for exponential input boundaries derived from
// the input itself (see provisionalBounds). Explicit input without
// `boundaries` passes through: it is explicit already.
func (t *tuner) convertLearning(m pmetric.Metric, st *metricState) {
	r := st.rule
	switch {
	case len(r.cfg.Boundaries) > 0:
		t.convert(m, r.cfg.Boundaries, t.static[r], 0)
	case m.Type() == pmetric.MetricTypeExponentialHistogram:
		if st.provisional == nil {
			if b := provisionalBounds(m.ExponentialHistogram(), r.cfg.MaxBuckets); b != nil {
				st.provisional = newSpreader(b)
			}
		}
		sp := st.provisional
		if sp == nil { // no usable point with positive values yet: not committed to
			sp = newSpreader(fallbackBounds(r.cfg.MaxBuckets))
		}
		t.convert(m, sp.bounds, sp, 0)
	}
}

// convert rewrites m onto bounds; version >= 2 is marked on every point.
func (t *tuner) convert(m pmetric.Metric, bounds []float64, sp *spreader, version int) {
	switch m.Type() {
	case pmetric.MetricTypeExponentialHistogram:
		convertExponential(m, bounds, sp, &t.scratch)
	case pmetric.MetricTypeHistogram:
		convertExplicit(m, bounds, sp, &t.scratch)
	}
	if version >= 2 {
		for _, dp := range m.Histogram().DataPoints().All() {
			dp.Attributes().PutInt(versionAttribute, int64(version))
		}
	}
}
