package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"encoding/binary"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// sampleRule is the first `sampling` rule that kept a trace.
type sampleRule uint8

const (
	ruleNone sampleRule = iota // not sampled
	ruleKeep
	ruleError
	ruleSlow
	rulePercentage
	numRules
)

// Attribute sets of sampling_decisions, per rule, built once.
var ruleOpts = func() [numRules]metric.AddOption {
	names := [numRules]string{"none", "keep", "error", "slow", "percentage"}
	var opts [numRules]metric.AddOption
	for r, name := range names {
		decision := "sampled"
		if sampleRule(r) == ruleNone {
			decision = "not_sampled"
		}
		opts[r] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("decision", decision), attribute.String("rule", name)))
	}
	return opts
}()

// sampler decides whether a trace's spans go on when its hold ends. Every
// span of a trace is held until then (decision_wait), so the hold buffer is
// the gateway's only buffer of whole traces.
type sampler struct {
	keepErrors bool
	slow       time.Duration
	all        bool   // percentage 100
	threshold  uint64 // trace ids whose low 8 bytes are below it are kept
}

func newSampler(cfg *SamplingConfig) *sampler {
	return &sampler{
		keepErrors: cfg.KeepErrors,
		slow:       cfg.SlowThreshold,
		all:        cfg.Percentage >= 100,
		threshold:  uint64(cfg.Percentage / 100 * math.MaxUint64),
	}
}

// decide returns the rule that keeps the held trace, ruleNone when no rule
// does. keep is the trace's keep flag (biz.keep).
func (s *sampler) decide(ht *heldTrace, keep bool) sampleRule {
	if keep {
		return ruleKeep
	}
	switch {
	case ht.failed && s.keepErrors:
		return ruleError
	case s.slow > 0 && ht.end > ht.start && ht.end-ht.start >= uint64(s.slow):
		return ruleSlow
	case s.all || binary.BigEndian.Uint64(ht.id[8:]) < s.threshold:
		// the random low bytes of a W3C trace id: every replica and restart
		// decides the same for the same trace
		return rulePercentage
	}
	return ruleNone
}

// dropSpans discards the held trace's spans (not sampled); its logs stay.
func (ht *heldTrace) dropSpans() int64 {
	n := int64(ht.spans)
	ht.traces, ht.chunk, ht.more, ht.spans, ht.spanSS = ptrace.Traces{}, heldChunk{}, nil, 0, ptrace.ScopeSpans{}
	return n
}
