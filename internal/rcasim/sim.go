package rcasim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Fault kinds. They match the Nezha fault types (cpu_contention,
// network_delay, exception, return) plus a timeout cascade, which Nezha
// lacks but real incidents show often.
const (
	// FaultNone injects nothing.
	FaultNone = ""
	// FaultCPU multiplies the self time of every span of the faulty service
	// and raises its pods' CPU metric.
	FaultCPU = "cpu_contention"
	// FaultDelay adds a fixed network delay to the responses of the faulty
	// service: its callers' exit spans grow, its own entry spans and its
	// calls out do not.
	FaultDelay = "network_delay"
	// FaultException makes a share of the faulty service's requests throw:
	// an ERROR log with trace/span id, error status, the statements after
	// the throw not logged, and failures that propagate upstream with
	// decreasing probability.
	FaultException = "exception"
	// FaultReturn makes the faulty service return early with a wrong value:
	// faster entry spans, skipped downstream calls and log statements, no
	// error status on itself; in three scenarios of five the early return
	// logs an ERROR (a branch never taken before).
	FaultReturn = "return"
	// FaultTimeoutCascade makes the innermost service of a chain with nested
	// deadlines (client budgets 800/500/200 ms, outermost first) 2-5x slower
	// than its 200 ms budget, so the calls fail with "context deadline
	// exceeded" from the inside out. Every call into the faulty service gets
	// the innermost budget; the budgets apply from the injection on.
	FaultTimeoutCascade = "timeout_cascade"
)

// Defaults applied by Generate to zero Config fields.
const (
	defaultServices      = 30
	minServices          = 5 // gateway plus one service per layer
	defaultStep          = 10 * time.Second
	defaultNormalSteps   = 12
	defaultFaultSteps    = 6
	defaultTracesPerStep = 200
)

var defaultStart = time.Date(2023, 1, 29, 8, 0, 0, 0, time.UTC)

// Config selects a scenario. Zero fields take their defaults, so
// Config{Seed: 1} is a complete fault-free scenario.
type Config struct {
	// Seed makes everything reproducible: the same Config gives byte-identical
	// pdata (on the same platform).
	Seed int64
	// Services is the number of services including the gateway (the shop's
	// frontend, the chain's API gateway). Default: 30 for ShapeTrainTicket,
	// 11 for ShapeGRPCShop, 16 for ShapeDeepChain; minimum 5.
	Services int
	// Start is the event time of the first step. Default: 2023-01-29 08:00 UTC.
	Start time.Time
	// Step is the length of one Batch in event time. Default: 10s.
	Step time.Duration
	// NormalSteps is the number of fault-free steps before the fault. Default: 12; negative means 0.
	NormalSteps int
	// FaultSteps is the number of steps with the fault active. Default: 6; negative means 0.
	FaultSteps int
	// TracesPerStep is the number of root requests per step. Default: 200; negative means 0.
	TracesPerStep int
	// Fault is one of the Fault* kinds. Default: FaultNone. Unknown kinds act as FaultNone (see Validate).
	Fault string
	// Shape is the system the scenario models. Default: ShapeTrainTicket.
	// Unknown shapes act as ShapeTrainTicket (see Validate).
	Shape Shape
	// FaultService names the faulty service. Default: chosen by the seed among
	// services with at least 0.05 calls per request, so the fault is
	// observable (for a timeout cascade: in the two deepest layers, preferring
	// one whose chain of 3+ services fails layer by layer).
	FaultService string
	// ClientSpans makes every exit span a CLIENT span naming its callee
	// (server.address, peer.service), as OTel's HTTP client
	// instrumentation sends it, in a shape whose exit spans carry neither
	// (ShapeTrainTicket, like its SkyWalking data): what a collector needs
	// to see a service that sends no spans (a blind spot) from its callers.
	// The other shapes' exit spans name their callee anyway.
	ClientSpans bool
}

// Batch is one step of telemetry: every span, log and metric point whose
// timestamp falls in [Start, End).
type Batch struct {
	Start, End time.Time
	Traces     ptrace.Traces
	Logs       plog.Logs
	Metrics    pmetric.Metrics
}

// Scenario is a generated run: topology, ground truth and telemetry.
type Scenario struct {
	// Services lists the service names, gateway first.
	Services []string
	// Edges lists the caller -> callee pairs of the call graph.
	Edges [][2]string
	// FaultService is the root cause; "" without a fault.
	FaultService string
	// Fault is the injected kind.
	Fault string
	// InjectAt is the start of the first fault step; zero without a fault.
	InjectAt time.Time
	// Batches holds NormalSteps+FaultSteps batches in event-time order.
	Batches []Batch

	// timeoutChain lists a timeout cascade's services, outermost first.
	timeoutChain []string
}

var knownFaults = []string{FaultNone, FaultCPU, FaultDelay, FaultException, FaultReturn, FaultTimeoutCascade}

// Validate reports settings that Generate would silently replace.
func (cfg Config) Validate() error {
	var errs error
	if !slices.Contains(knownFaults, cfg.Fault) {
		errs = errors.Join(errs, fmt.Errorf("unknown 'fault' %q", cfg.Fault))
	}
	if !slices.Contains(Shapes, cfg.Shape) && cfg.Shape != "" {
		errs = errors.Join(errs, fmt.Errorf("unknown 'shape' %q", cfg.Shape))
	}
	if cfg.Services != 0 && cfg.Services < minServices {
		errs = errors.Join(errs, fmt.Errorf("'services' must be at least %d", minServices))
	}
	if cfg.Step < 0 {
		errs = errors.Join(errs, errors.New("'step' must not be negative"))
	}
	if cfg.FaultService != "" {
		d := cfg.withDefaults()
		n := d.Services
		g := buildGraph(newGraphRNG(cfg.Seed), n, d.Shape)
		if g.serviceIndex(cfg.FaultService) < 0 {
			errs = errors.Join(errs, fmt.Errorf("'fault_service' %q is not one of the %d generated services", cfg.FaultService, n))
		}
	}
	return errs
}

func (cfg Config) withDefaults() Config {
	if !slices.Contains(Shapes, cfg.Shape) {
		cfg.Shape = ShapeTrainTicket
	}
	if cfg.Services == 0 {
		cfg.Services = cfg.Shape.defaultServices()
	}
	cfg.Services = max(cfg.Services, minServices)
	if cfg.Start.IsZero() {
		cfg.Start = defaultStart
	}
	if cfg.Step <= 0 {
		cfg.Step = defaultStep
	}
	cfg.NormalSteps = orDefault(cfg.NormalSteps, defaultNormalSteps)
	cfg.FaultSteps = orDefault(cfg.FaultSteps, defaultFaultSteps)
	cfg.TracesPerStep = orDefault(cfg.TracesPerStep, defaultTracesPerStep)
	if !slices.Contains(knownFaults, cfg.Fault) {
		cfg.Fault = FaultNone
	}
	return cfg
}

func orDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Independent random streams, so that the topology does not depend on the
// fault and each trace only on its own index: steps before the fault are
// identical whatever fault is injected later.
const (
	streamGraph = 1<<63 | iota
	streamFault
	streamStatements
	streamSizes
	streamStep = 1 << 62 // + step index
)

func newGraphRNG(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), streamGraph)) }

// plan holds the scenario-wide fault parameters.
type plan struct {
	kind      string
	svc       int   // -1 without a fault
	injectAt  int64 // ns
	cpuMult   float64
	cpuStress float64 // extra cores of the stress process
	delayMs   float64
	share     float64
	excMsg    string
	slowMs    float64
	elseLog   bool             // return: the early return logs an ERROR (a branch not taken before)
	react     float64          // return: the share of the callers' requests that stop after its wrong value (graph.checksAnswers)
	budgets   map[[2]int]int64 // ns per caller->callee edge of the timeout chain
	chain     []int            // outermost first
}

var exceptionMessages = []string{
	"java.lang.RuntimeException: unexpected null value in response",
	"java.lang.RuntimeException: failed to process request",
	"java.lang.RuntimeException: data inconsistency detected",
	"java.lang.RuntimeException: illegal state of entity",
}

func newPlan(cfg Config, g *graph, injectAt int64) *plan {
	p := &plan{kind: cfg.Fault, svc: -1, injectAt: injectAt}
	if cfg.Fault == FaultNone {
		return p
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), streamFault))
	p.svc = g.serviceIndex(cfg.FaultService)
	if p.svc < 0 {
		p.svc = pickFaultService(rng, g, cfg.Fault)
	}
	p.cpuMult = 3 + 5*rng.Float64()
	p.cpuStress = 1.5 + rng.Float64()
	p.delayMs = 50 + 350*rng.Float64()
	p.share = 0.3 + 0.7*rng.Float64()
	p.excMsg = exceptionMessages[rng.IntN(len(exceptionMessages))]
	if cfg.Fault == FaultTimeoutCascade {
		p.chain, p.budgets, _ = timeoutChain(g, p.svc)
		p.slowMs = chainBudgets[0].Seconds() * 1e3 * (2 + 3*rng.Float64())
	}
	p.elseLog = rng.Float64() < 0.6
	p.react = 0.3 + 0.6*rng.Float64()
	return p
}

// pickFaultService prefers services that see enough traffic for the fault to
// be observable at the default volume; the entry service only where the
// shape's can be hit (graph.rootFaults).
func pickFaultService(rng *rand.Rand, g *graph, kind string) int {
	var cands, all []int
	for i := range g.services {
		if i == 0 && (!g.rootFaults || kind == FaultDelay || kind == FaultTimeoutCascade) {
			continue
		}
		if kind == FaultTimeoutCascade && g.services[i].layer < min(3, g.depth) {
			continue // leave room for a chain of three or more services below the gateway
		}
		all = append(all, i)
		if g.svcRate[i] >= minRouteShare {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		cands = all
	}
	if kind == FaultTimeoutCascade {
		// Prefer a chain of three or more services that fails layer by layer.
		observable := slices.DeleteFunc(slices.Clone(cands), func(i int) bool {
			chain, _, clean := timeoutChain(g, i)
			return !clean || len(chain) < 3
		})
		if len(observable) > 0 {
			cands = observable
		}
	}
	return cands[rng.IntN(len(cands))]
}

// Timeout budgets of a cascade, innermost edge first.
var chainBudgets = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, 800 * time.Millisecond}

// timeoutChain picks the cascade's chain ending in svc: a path of endpoints
// that really call each other, up to len(chainBudgets) edges long. It prefers
// clean paths (each caller reaches the next layer before anything else that
// leads into svc, so no other failure cuts the cascade short), then longer
// ones, then busier ones. It also reports whether the chosen path is clean.
func timeoutChain(g *graph, svc int) (chain []int, budgets map[[2]int]int64, clean bool) {
	type ref struct{ svc, ep int }
	callers := map[ref][]ref{}
	for i := range g.services {
		for e, ep := range g.services[i].eps {
			for _, grp := range ep.groups {
				for _, c := range grp {
					if c.async {
						continue // no deadline crosses a Kafka topic
					}
					k := ref{c.svc, c.ep}
					if !slices.Contains(callers[k], ref{i, e}) {
						callers[k] = append(callers[k], ref{i, e})
					}
				}
			}
		}
	}
	// reach: the endpoint's requests lead into svc. Callees have higher
	// indexes, so reverse index order visits them first.
	reach := map[ref]bool{}
	for i := len(g.services) - 1; i >= 0; i-- {
		for e, ep := range g.services[i].eps {
			r := i == svc
			for _, grp := range ep.groups {
				for _, c := range grp {
					r = r || !c.async && reach[ref{c.svc, c.ep}]
				}
			}
			reach[ref{i, e}] = r
		}
	}
	isClean := func(c ref, target []ref) bool {
		for _, grp := range g.services[c.svc].eps[c.ep].groups {
			hit, other := false, false
			for _, call := range grp {
				if slices.Contains(target, ref{call.svc, call.ep}) {
					hit = true
				} else if reach[ref{call.svc, call.ep}] {
					other = true
				}
			}
			if hit || other {
				return hit && !other
			}
		}
		return false
	}
	type score struct {
		clean bool
		edges int
		rate  float64
	}
	better := func(a, b score) bool {
		if a.clean != b.clean {
			return a.clean
		}
		if a.edges != b.edges {
			return a.edges > b.edges
		}
		return a.rate > b.rate
	}
	var best []ref
	bestScore := score{edges: -1}
	var walk func(path []ref, target []ref, sc score)
	walk = func(path []ref, target []ref, sc score) {
		if len(path) > 0 && better(sc, bestScore) {
			best, bestScore = slices.Clone(path), sc
		}
		if len(path) == len(chainBudgets) || (len(path) > 0 && path[len(path)-1].svc == 0) {
			return
		}
		var cands []ref
		for _, r := range target {
			for _, c := range callers[r] {
				if !slices.Contains(cands, c) {
					cands = append(cands, c)
				}
			}
		}
		for _, c := range cands {
			next := score{clean: sc.clean && isClean(c, target), edges: sc.edges + 1, rate: min(sc.rate, g.epRate[c.svc][c.ep])}
			walk(append(path, c), []ref{c}, next)
		}
	}
	var own []ref
	for e := range g.services[svc].eps {
		own = append(own, ref{svc, e})
	}
	walk(nil, own, score{clean: true, rate: math.Inf(1)})

	chain = []int{svc}
	budgets = map[[2]int]int64{}
	for i, r := range best {
		budgets[[2]int{r.svc, chain[len(chain)-1]}] = int64(chainBudgets[i])
		chain = append(chain, r.svc)
	}
	slices.Reverse(chain)
	return chain, budgets, bestScore.clean
}

// Generate builds a scenario. It is deterministic: the same Config yields
// byte-identical pdata.
func Generate(cfg Config) Scenario {
	cfg = cfg.withDefaults()
	g := buildGraph(newGraphRNG(cfg.Seed), cfg.Services, cfg.Shape)
	g.addStatements(rand.New(rand.NewPCG(uint64(cfg.Seed), streamStatements)))
	g.addRespSizes(rand.New(rand.NewPCG(uint64(cfg.Seed), streamSizes)))
	g.clientSpans = cfg.ClientSpans
	start0 := cfg.Start.UnixNano()
	stepNs := int64(cfg.Step)
	steps := cfg.NormalSteps + cfg.FaultSteps
	injectAt := start0 + int64(cfg.NormalSteps)*stepNs
	p := newPlan(cfg, g, injectAt)

	sc := Scenario{Edges: g.edges(), Fault: cfg.Fault}
	for _, s := range g.services {
		sc.Services = append(sc.Services, s.name)
	}
	if p.svc >= 0 {
		sc.FaultService = g.services[p.svc].name
		sc.InjectAt = time.Unix(0, injectAt).UTC()
		for _, c := range p.chain {
			sc.timeoutChain = append(sc.timeoutChain, g.services[c].name)
		}
	}

	o := newOutput(g, start0, stepNs, steps)
	t := &tracer{g: g, plan: p, out: o, src: rand.NewPCG(0, 0), sizeSrc: rand.NewPCG(0, 0)}
	t.rng, t.sizes = rand.New(t.src), rand.New(t.sizeSrc)
	end := start0 + int64(steps)*stepNs
	n := cfg.TracesPerStep
	for k := range steps {
		for i := range n {
			t.reset(uint64(cfg.Seed), uint64(k*n+i))
			slot := float64(stepNs) / float64(n)
			root := start0 + int64(k)*stepNs + int64((float64(i)+t.rng.Float64())*slot)
			r := t.invoke(0, g.pickRoute(t.rng), root, zeroSpanID, noDeadline)
			if r.end >= end || t.lastEnd() >= end {
				continue // would end after the last batch: drop the whole trace
			}
			o.addTrace(t)
		}
	}
	for k := range steps {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), streamStep+uint64(k)))
		if g.textLogs {
			o.addBackground(rng, k)
		}
		o.addMetrics(rng, k, p)
	}
	sc.Batches = o.batches(cfg.Start, cfg.Step)
	return sc
}

func lognormal(rng *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*rng.NormFloat64())
}
