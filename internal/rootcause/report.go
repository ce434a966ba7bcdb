package rootcause

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Candidate is one ranked service of a report.
type Candidate struct {
	Rank       int      `json:"rank"`
	Service    string   `json:"service"`
	Pod        string   `json:"pod"`
	Operation  string   `json:"operation"`
	Score      float64  `json:"score"`
	Confidence float64  `json:"confidence"`
	Evidence   []string `json:"evidence"`
	// BlindSpot: the service sent no spans; Service is the name its
	// callers' CLIENT spans give it (peer.service, server.address or
	// net.peer.name) and Callers are those callers, most calls first.
	BlindSpot bool     `json:"blind_spot,omitempty"`
	Callers   []string `json:"callers,omitempty"`
}

// Report is one window's ranking: the log record body.
type Report struct {
	WindowStart string      `json:"window_start"`
	WindowEnd   string      `json:"window_end"`
	Pattern     string      `json:"pattern"`
	Candidates  []Candidate `json:"candidates"`
	Exemplars   []string    `json:"exemplar_trace_ids"`
	// Cascade is set for pattern timeout_cascade.
	Cascade *Cascade `json:"cascade,omitempty"`
	Method  string   `json:"method"`

	End time.Time `json:"-"`
}

// JSON is the report as the log body.
func (r *Report) JSON() string {
	b, _ := json.Marshal(r) // plain structs: cannot fail
	return string(b)
}

// Patterns, named after the top candidate's strongest evidence.
const (
	PatternTimeoutCascade = "timeout_cascade"
	PatternError          = "error"
	PatternLatency        = "latency"
	PatternNetwork        = "network"
	PatternResource       = "resource"
	PatternTimeout        = "timeout"
	PatternTraffic        = "traffic"
	PatternLogs           = "log_pattern"
	PatternCalls          = "call_pattern"
)

var patternOf = [NumNodeFeatures]string{
	FeatSelfTime: PatternLatency, FeatDuration: PatternLatency, FeatErrorRate: PatternError, FeatErrorLogs: PatternError,
	FeatTimeouts: PatternTimeout, FeatCalls: PatternTraffic, FeatCPU: PatternResource, FeatMemory: PatternResource,
	FeatGapIn: PatternNetwork, FeatGapOut: PatternNetwork, FeatLogNew: PatternLogs, FeatLogMissing: PatternLogs,
	FeatCallsMissing: PatternCalls, FeatCallsNew: PatternCalls, FeatEndsEarly: PatternCalls, FeatStopsAfter: PatternCalls, FeatAnswerSize: PatternCalls,
}

// report ranks g with the configured method. A recognised timeout cascade
// leads: its origin becomes rank 1 with a score one above the method's best,
// since a deadline that fired first is direct evidence, not a correlation.
func (e *Engine) report(g *Graph) *Report {
	scores, conf := e.cfg.Method.Score(g)
	order := make([]int, len(g.Nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if scores[a] != scores[b] {
			if scores[a] > scores[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(g.Nodes[a].Service, g.Nodes[b].Service)
	})
	r := &Report{
		WindowStart: time.Unix(0, g.Start).UTC().Format(time.RFC3339),
		WindowEnd:   time.Unix(0, g.End).UTC().Format(time.RFC3339),
		Method:      e.cfg.Method.Name(),
		End:         time.Unix(0, g.End).UTC(),
	}
	var cascade *Cascade
	if len(g.Cascades) > 0 {
		c := g.Cascades[0]
		cascade = &c
		r.Cascade, r.Pattern = cascade, PatternTimeoutCascade
		if o := slices.IndexFunc(order, func(i int) bool { return g.Nodes[i].id == c.origin }); o > 0 {
			top := scores[order[0]]
			order = slices.Insert(slices.Delete(order, o, o+1), 0, order[o])
			scores = slices.Clone(scores)
			scores[order[0]] = top + 1
		}
	}
	k := min(e.cfg.TopK, len(order))
	for rank, i := range order[:k] {
		n := &g.Nodes[i]
		c := Candidate{Rank: rank + 1, Service: n.Service, Pod: n.Pod, Operation: n.Operation, Score: round(scores[i]), Confidence: round(conf[i]), Evidence: e.evidence(g, i),
			BlindSpot: n.BlindSpot, Callers: n.Callers}
		if cascade != nil && rank == 0 && n.id == cascade.origin {
			c.Operation = cascade.OriginOperation
			total := 0
			for _, x := range g.Cascades {
				total += x.Traces
			}
			c.Confidence = round(float64(cascade.Traces) / float64(total))
			c.Evidence = append([]string{cascadeEvidence(cascade)}, c.Evidence...)
		}
		r.Candidates = append(r.Candidates, c)
		if !n.Exemplar.IsEmpty() && !n.Carried { // a carried node's trace is not in this window
			if id := n.Exemplar.String(); !slices.Contains(r.Exemplars, id) {
				r.Exemplars = append(r.Exemplars, id)
			}
		}
	}
	if r.Pattern == "" && len(order) > 0 {
		r.Pattern = PatternLatency
		best := math.Inf(-1)
		for f, z := range g.Nodes[order[0]].X {
			if z := weighed(f, z); z > best {
				best, r.Pattern = z, patternOf[f]
			}
		}
	}
	if r.Exemplars == nil {
		r.Exemplars = []string{}
	}
	return r
}

func cascadeEvidence(c *Cascade) string {
	var b strings.Builder
	fmt.Fprintf(&b, "timeout_cascade in %d traces, first to fail: %s %q; budgets:", c.Traces, c.OriginService, c.OriginOperation)
	for i, l := range c.Layers {
		if i > 0 {
			b.WriteString(" <")
		}
		fmt.Fprintf(&b, " %s %.0fms", l.Service, l.BudgetMs)
	}
	return b.String()
}

// evidence lists a node's features at or beyond min_anomaly, strongest
// (weighed) first; below it, the strongest one above its baseline, so that a
// candidate is never listed without a reason.
func (e *Engine) evidence(g *Graph, i int) []string {
	n := &g.Nodes[i]
	fs := make([]int, 0, NumNodeFeatures)
	strongest := -1
	for f, z := range n.X {
		if z >= e.cfg.MinAnomaly {
			fs = append(fs, f)
		}
		if z > 0 && (strongest < 0 || weighed(f, z) > weighed(strongest, n.X[strongest])) {
			strongest = f
		}
	}
	if len(fs) == 0 && strongest >= 0 {
		fs = append(fs, strongest)
	}
	slices.SortFunc(fs, func(a, b int) int {
		if za, zb := weighed(a, n.X[a]), weighed(b, n.X[b]); za != zb {
			return cmp.Compare(zb, za)
		}
		return a - b
	})
	out := make([]string, 0, len(fs)+2)
	if n.BlindSpot {
		out = append(out, fmt.Sprintf("blind spot: no spans of its own; %.0f calls into it seen by their callers' CLIENT spans (%s)", n.Raw[FeatCalls], strings.Join(n.Callers, ", ")))
		if n.credited {
			out = append(out, "failures of its callers that their failed calls into it explain count here")
		}
	}
	if n.Carried {
		out = append(out, fmt.Sprintf("no spans or logs this window: the previous window's evidence, z times %g", carryDecay))
	}
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s=%.4g (z=%.1f)", FeatureNames[f], n.Raw[f], n.X[f]))
	}
	return out
}

// round keeps reports short and stable: 6 decimals.
func round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1e6) / 1e6
}
