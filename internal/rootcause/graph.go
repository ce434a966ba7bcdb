package rootcause

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Node features: robust z-scores of one service's window against its own
// baseline. The order is part of the model file format (FeatureNames).
const (
	FeatSelfTime     = iota // p90 self time of its segments (work in the service itself)
	FeatDuration            // p90 duration of its entry spans (includes callees)
	FeatErrorRate           // share of segments failed (span status or ERROR log of the span)
	FeatErrorLogs           // ERROR-or-worse log records
	FeatTimeouts            // spans failed with a context deadline/cancel
	FeatCalls               // segments (request rate)
	FeatCPU                 // pod CPU (latest sample)
	FeatMemory              // pod memory (latest sample)
	FeatGapIn               // max over calls into it that are its own (attributeGaps): caller-observed minus its own time
	FeatGapOut              // max over its calls out when it is the common end of the slow calls (attributeGaps)
	FeatLogNew              // strongest WARN/ERROR log template above its expected count, per service (Poisson z)
	FeatLogMissing          // strongest expected log statement or statement pair below its count (z with a learned spread)
	FeatCallsMissing        // strongest endpoint's calls to a callee operation below their expected count per request (callpattern.go)
	FeatCallsNew            // strongest endpoint's calls to a callee operation above their expected count, or never made before
	FeatEndsEarly           // strongest endpoint's own spans below their expected count per request: requests that end early
	FeatStopsAfter          // strongest caller endpoint's requests whose last call is to it above their expected count (callpattern.go)
	FeatAnswerSize          // strongest endpoint's answers of a size it hardly ever gave, above their expected count, less a callee's (respsize.go)
	NumNodeFeatures
)

// Edge features: robust z-scores of one caller -> callee pair.
const (
	EdgeGap       = iota // median caller-observed minus callee-observed time (a retransmission adds 200 ms to a few calls, a network delay to all)
	EdgeErrorRate        // share of calls whose callee segment failed
	NumEdgeFeatures
)

// FeatureNames name the node features in evidence and in model files.
var FeatureNames = [NumNodeFeatures]string{"self_time_p90_ms", "duration_p90_ms", "error_rate", "error_logs", "timeouts", "calls", "cpu", "memory", "gap_in_p50_ms", "gap_out_p50_ms", "log_template_new", "log_template_missing", "calls_missing", "calls_new", "ends_early", "stops_after", "answer_size"}

// EdgeFeatureNames name the edge features in model files.
var EdgeFeatureNames = [NumEdgeFeatures]string{"gap_p50_ms", "error_rate"}

// rawFloor is each raw feature's smallest robust spread: 1 ms of latency, 1%
// of errors, one log or timeout, a tenth of the calls' scale, 5% CPU
// (utilisation) or 0.05 core, 1% memory or 1 MiB... in the feature's unit.
var rawFloor = [NumNodeFeatures]float64{1, 1, 0.01, 1, 1, 5, 0.05, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}

// fromRing says which node features are robust z-scores against the
// node's own ring; the others come from edges (gaps), log templates or
// call patterns.
func fromRing(f int) bool {
	return f < FeatGapIn
}

var edgeFloor = [NumEdgeFeatures]float64{1, 0.01}

// Node is one service of a closed window.
type Node struct {
	Service   string
	Pod       string // the pod with the most evidence
	Operation string // the operation with the most evidence
	// X are the robust z-scores (0 while the baseline is short).
	X [NumNodeFeatures]float64
	// Raw are the window's values behind X (NaN: not observed); for the
	// log features, the run's when its z is the larger (logRun).
	Raw      [NumNodeFeatures]float64
	Exemplar pcommon.TraceID // a failed or slowest trace through it

	// Carried: the service sent no spans or logs this window; Raw and the
	// parts are its previous window's, X that window's at carryDecay (see
	// carryForward).
	Carried bool

	// BlindSpot: the service sent no spans this window and its node comes
	// from its callers' calls into it (blindspot.go): Callers are those
	// with the most calls.
	BlindSpot bool
	// credited: failures of its callers that their failed calls into it
	// explain count here (creditBlindFailures). A flag, not the names:
	// Node is copied often, and Callers names them.
	credited bool
	Callers  []string

	id         int32
	callers    []int32
	traceRCA   float64 // TraceRCA-like Jaccard score (traceRCA)
	errorSpans int
}

// Edge is one caller -> callee pair of a closed window.
type Edge struct {
	From, To int // node indexes
	Calls    int
	X        [NumEdgeFeatures]float64
}

// Graph is a closed window: the service dependency graph with features.
type Graph struct {
	Start, End int64 // ns
	Nodes      []Node
	Edges      []Edge
	// Cascades are the timeout cascades found in the window, most frequent first.
	Cascades []Cascade
}

// Anomaly is how anomalous a node is, for the min_anomaly gate: its largest
// z over the features that mean trouble (rate changes alone do not).
func (n *Node) Anomaly() float64 {
	a := math.Inf(-1)
	for f, z := range n.X {
		if f == FeatCalls {
			continue
		}
		a = math.Max(a, z)
	}
	return a
}

// Own is a node's strongest sign of trouble of its own, as a z: its self
// time, the gaps of the calls it is the slow end of (attributeGaps), its
// errors, ERROR logs, timeouts, CPU, log and call patterns, its callers
// stopping after its answer - not its duration,
// which its callees' faults raise as much as its own; 0 when none is above
// baseline.
func (n *Node) Own() float64 {
	x := &n.X
	return max(0, x[FeatSelfTime], x[FeatGapIn], x[FeatGapOut], x[FeatErrorRate], x[FeatErrorLogs], x[FeatTimeouts], x[FeatCPU], x[FeatLogNew], x[FeatLogMissing],
		callPatternZ(x), x[FeatStopsAfter])
}

// latency is a node's own latency z: its self time or the gaps of the calls
// it is the slow end of (attributeGaps), whichever is larger.
func (n *Node) latency() float64 {
	return max(n.X[FeatSelfTime], n.X[FeatGapIn], n.X[FeatGapOut])
}

// latencyScale puts the latency z's on the scale of the count z's. A
// latency quantile is judged against its own baseline windows, where a few
// slow requests or a pause are common: in fault-free windows large latency
// z's are about ten times as frequent as count z's of the same size, and
// unscaled, a pause in a bystander outranks a service whose requests fail
// with a new ERROR.
const latencyScale = 10

// weighed is feature f's z on the common scale of evidence, the scale the
// gnn prior, a report's pattern and a candidate's evidence order use:
// latency z's count a tenth.
func weighed(f int, z float64) float64 {
	switch f {
	case FeatSelfTime, FeatDuration, FeatGapIn, FeatGapOut:
		return z / latencyScale
	}
	return z
}

// Index returns the node of service, or -1.
func (g *Graph) Index(service string) int {
	for i := range g.Nodes {
		if g.Nodes[i].Service == service {
			return i
		}
	}
	return -1
}
