package rootcause

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// intake is the ingest side of an Engine: the open windows, the watermark,
// the names and the ingest counters, all behind mu. Ingestion holds mu for
// a whole batch; a close holds it only for its few steps that touch this
// side (detach, carry, label, forget), so that ranking a window does not
// stall the producers.
type intake struct {
	mu                  sync.Mutex
	cfg                 *Config
	window, lateness    int64 // ns
	open                map[int64]*window
	watermark           int64 // latest span end seen
	services, pods, ops *names
	cpuNames, memNames  map[string]bool
	// late are the pod samples of closed windows since the last detach,
	// the latest per service and kind: they update the carried-forward
	// values before the next close.
	late    map[sampleKey]float64
	tmplBuf []byte
	stats   Stats
	now     func() time.Time
}

// sampleKey is a service's CPU or memory, for samples of closed windows.
type sampleKey struct {
	service int32
	cpu     bool
}

// DefaultMaxFuture is Config.MaxFuture's default.
const DefaultMaxFuture = time.Hour

// horizon is the latest timestamp taken: MaxFuture ahead of the wall clock.
func (in *intake) horizon() int64 { return in.now().Add(in.cfg.MaxFuture).UnixNano() }

func newIntake(cfg *Config) *intake {
	in := &intake{
		cfg:      cfg,
		window:   int64(cfg.Window),
		lateness: int64(cfg.MaxLateness),
		open:     map[int64]*window{},
		services: newNames(cfg.MaxServices),
		pods:     newNames(cfg.MaxPods),
		ops:      newNames(cfg.MaxOperations),
		cpuNames: map[string]bool{},
		memNames: map[string]bool{},
		now:      time.Now,
	}
	for _, n := range cfg.CPUMetrics {
		in.cpuNames[n] = true
	}
	for _, n := range cfg.MemoryMetrics {
		in.memNames[n] = true
	}
	return in
}

func (in *intake) windowAt(ts int64) *window {
	start := ts - ts%in.window
	if start+in.window+in.lateness <= in.watermark {
		return nil // closed: late
	}
	w := in.open[start]
	if w == nil {
		w = &window{start: start, tmpl: map[tmplKey]int32{}, seq: map[seqKey]int32{}}
		in.open[start] = w
	}
	return w
}

// due returns the starts of the windows to close, oldest first: those whose
// end plus lateness the watermark has passed, or every open one when flush.
func (in *intake) due(flush bool) []int64 {
	var starts []int64
	for s := range in.open {
		if flush || s+in.window+in.lateness <= in.watermark {
			starts = append(starts, s)
		}
	}
	slices.Sort(starts)
	return starts
}

// detach removes the window starting at start from the open ones (nil when
// it is not open) and hands over the samples of closed windows.
func (in *intake) detach(start int64) (*window, map[sampleKey]float64) {
	w := in.open[start]
	if w == nil {
		return nil, nil
	}
	delete(in.open, start)
	late := in.late
	in.late = nil
	return w, late
}

// serviceOf is the resource's service.name, else the deployment or the pod
// name without its ReplicaSet and pod hashes.
func serviceOf(res pcommon.Map) string {
	if v, ok := res.Get("service.name"); ok && v.Str() != "" {
		return v.Str()
	}
	if v, ok := res.Get("k8s.deployment.name"); ok && v.Str() != "" {
		return v.Str()
	}
	if v, ok := res.Get("k8s.pod.name"); ok && v.Str() != "" {
		return ServiceOfPod(v.Str())
	}
	return "unknown_service"
}

// ServiceOfPod strips a Deployment pod name's two generated suffixes:
// ts-order-service-7d9f8b-x2x9z -> ts-order-service.
func ServiceOfPod(pod string) string {
	s := pod
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return pod
		}
		s = s[:i]
	}
	return s
}

func podOf(res pcommon.Map) string {
	for _, k := range []string{"k8s.pod.name", "service.instance.id", "host.name"} {
		if v, ok := res.Get(k); ok && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

// addTraces puts each span into the window of its end time.
func (in *intake) addTraces(td ptrace.Traces) {
	horizon := in.horizon()
	for _, rs := range td.ResourceSpans().All() {
		res := rs.Resource().Attributes()
		svcName, podName := serviceOf(res), podOf(res)
		for _, ss := range rs.ScopeSpans().All() {
			in.stats.Spans += int64(ss.Spans().Len())
			for _, s := range ss.Spans().All() {
				end := int64(s.EndTimestamp())
				if end > horizon {
					in.stats.FutureSpans++
					continue
				}
				in.watermark = max(in.watermark, end)
				w := in.windowAt(end)
				if w == nil {
					in.stats.LateSpans++
					continue
				}
				if len(w.spans) >= in.cfg.MaxSpansPerWindow {
					in.stats.DroppedSpans++
					continue
				}
				start := int64(s.StartTimestamp())
				if start > end || start == 0 {
					start = end
				}
				kind := s.Kind()
				entry := kind == ptrace.SpanKindServer || kind == ptrace.SpanKindConsumer || kind == ptrace.SpanKindInternal
				peer := noPeer
				if !entry {
					if name := peerOf(s.Attributes()); name != "" {
						peer = in.services.id(name, w.start) // beyond max_services: overflowID, which is noPeer
					}
				}
				var resp uint8
				if kind == ptrace.SpanKindServer || kind == ptrace.SpanKindUnspecified && peer == noPeer {
					resp = respBucketOf(s)
				}
				w.spans = append(w.spans, spanRec{
					trace: s.TraceID(), span: s.SpanID(), parent: s.ParentSpanID(),
					service: in.services.id(svcName, w.start), pod: in.pods.id(podName, w.start), op: in.ops.id(s.Name(), w.start),
					peer:    peer,
					startNs: start, endNs: end,
					err: s.Status().Code() == ptrace.StatusCodeError, timeout: isTimeout(s),
					entry: entry,
					// a span that names its peer is a call, also without a kind
					exit:     kind == ptrace.SpanKindClient || kind == ptrace.SpanKindProducer || peer != noPeer,
					producer: kind == ptrace.SpanKindProducer,
					resp:     resp,
				})
			}
		}
	}
}

// addLogs counts every record by template (see logtemplate.go) and keeps
// the ERROR-or-worse ones: counted per service, and joined to their span
// (when they carry its ids) to mark it failed.
func (in *intake) addLogs(ld plog.Logs) {
	horizon := in.horizon()
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		svcName, podName := serviceOf(res), podOf(res)
		for _, sl := range rl.ScopeLogs().All() {
			in.stats.Logs += int64(sl.LogRecords().Len())
			scope := sl.Scope().Name()
			for _, r := range sl.LogRecords().All() {
				ts := int64(r.Timestamp())
				if ts == 0 {
					ts = int64(r.ObservedTimestamp())
				}
				if ts > horizon {
					in.stats.FutureLogs++
					continue
				}
				w := in.windowAt(ts)
				if w == nil {
					in.stats.DroppedLogs++
					continue
				}
				svc := in.services.id(svcName, w.start)
				if in.countTemplate(w, svc, scope, r) != sevError {
					continue
				}
				if len(w.logs) >= in.cfg.MaxSpansPerWindow {
					in.stats.DroppedLogs++
					continue
				}
				w.logs = append(w.logs, logRec{trace: r.TraceID(), span: r.SpanID(), service: svc, pod: in.pods.id(podName, w.start)})
			}
		}
	}
}

// addMetrics reads pod CPU and memory gauges/sums (the configured names).
func (in *intake) addMetrics(md pmetric.Metrics) {
	horizon := in.horizon()
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes()
		svcName, podName := serviceOf(res), podOf(res)
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				cpu, mem := in.cpuNames[m.Name()], in.memNames[m.Name()]
				if !cpu && !mem {
					continue
				}
				for _, dp := range numberPoints(m).All() {
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					if math.IsNaN(v) || math.IsInf(v, 0) {
						continue
					}
					if int64(dp.Timestamp()) > horizon {
						in.stats.FutureSamples++
						continue
					}
					in.addSample(int64(dp.Timestamp()), svcName, podName, cpu, v)
				}
			}
		}
	}
}

// numberPoints are a gauge's or sum's points (none for other types).
func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints()
	}
	return pmetric.NewNumberDataPointSlice()
}

// addSample keeps a pod sample in its window's series (the highest per
// series, while the window has fewer than max_metric_series; beyond:
// counted); a sample of a closed window updates its service's
// carried-forward value at the next close.
func (in *intake) addSample(ts int64, svcName, podName string, cpu bool, v float64) {
	if w := in.windowAt(ts); w != nil {
		k := seriesKey{service: in.services.id(svcName, w.start), pod: in.pods.id(podName, w.start), cpu: cpu}
		if old, ok := w.metrics[k]; ok {
			w.metrics[k] = max(old, v)
			return
		}
		if len(w.metrics) >= in.cfg.MaxMetricSeries {
			in.stats.DroppedMetrics++
			return
		}
		if w.metrics == nil {
			w.metrics = map[seriesKey]float64{}
		}
		w.metrics[k] = v
		return
	}
	if id, ok := in.services.ids[svcName]; ok {
		if in.late == nil {
			in.late = map[sampleKey]float64{}
		}
		in.late[sampleKey{id, cpu}] = v
	}
}
