package rcatrain

import (
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/otelcol-biz/otelcol-biz/internal/rcasim"
)

// SimScenarios is the number of simulated TrainTicket-shaped faults
// cmd/gnntrain trains on.
const SimScenarios = 300

// ShapeScenarios is the number of simulated faults of each other shape
// (rcasim.ShapeGRPCShop, rcasim.ShapeDeepChain) cmd/gnntrain trains on.
const ShapeScenarios = 100

// ShapeWeight is how many TrainTicket-shaped scenarios one scenario of
// another shape counts as in the loss: the other shapes widen what the
// network has seen without outweighing the shape the real cases have.
const ShapeWeight = 0.5

// simFaults are the kinds the simulator injects, in turn.
var simFaults = []string{rcasim.FaultCPU, rcasim.FaultDelay, rcasim.FaultException, rcasim.FaultReturn, rcasim.FaultTimeoutCascade}

// SimExamples simulates n TrainTicket-shaped faults and returns their
// scored windows: each scenario has 20-45 services, sparse traffic like the
// real data's (a few traces per second), 2.5 min of normal traffic, then
// the fault; inject times are not window-aligned. Each scenario ships the
// signal families a Missing draw gives it (see drawMissing).
func SimExamples(n int, seed uint64, s Settings) ([]Labeled, error) {
	return ShapeExamples(rcasim.ShapeTrainTicket, n, seed, s, true)
}

// TrainExamples are the simulated windows cmd/gnntrain and rcabench's
// cross-validation train on: tt TrainTicket-shaped faults (SimScenarios)
// and perShape of each other shape (ShapeScenarios).
func TrainExamples(tt, perShape int, seed uint64, s Settings) ([]Labeled, error) {
	out, err := SimExamples(tt, seed, s)
	if err != nil {
		return nil, err
	}
	for _, sh := range rcasim.Shapes[1:] {
		if perShape <= 0 {
			break
		}
		ls, err := ShapeExamples(sh, perShape, seed, s, true)
		if err != nil {
			return nil, err
		}
		for i := range ls {
			ls[i].Weight = ShapeWeight
		}
		out = append(out, ls...)
	}
	return out, nil
}

// shapeServices and shapeTraces are the ranges of service counts and root
// requests per 10 s step drawn per shape (a deep chain's request has
// several times the spans of the others').
var (
	shapeServices = map[rcasim.Shape][2]int{
		rcasim.ShapeTrainTicket: {20, 45},
		rcasim.ShapeGRPCShop:    {8, 16},
		rcasim.ShapeDeepChain:   {10, 24},
	}
	shapeTraces = map[rcasim.Shape][2]int{
		rcasim.ShapeTrainTicket: {15, 54},
		rcasim.ShapeGRPCShop:    {15, 54},
		rcasim.ShapeDeepChain:   {10, 34},
	}
)

// ShapeExamples simulates n faults of one shape as SimExamples does (its
// service counts: 20-45 TrainTicket, 8-16 gRPC shop, 10-24 deep chain; a
// deep chain sees 10-34 requests per step, the others 15-54).
// Each shape draws from its own stream of seed, so one shape's scenarios
// do not change with another's. missing: drop signal families per
// drawMissing; without it a scenario ships what its shape ships.
func ShapeExamples(shape rcasim.Shape, n int, seed uint64, s Settings, missing bool) ([]Labeled, error) {
	return shapeExamples(shape, n, seed, s, simFaults, false, false, func(i int, seed int64, services []string, _ string) Missing {
		if !missing {
			return Missing{}
		}
		return drawMissing(i, seed, services)
	})
}

// drawFunc is the families scenario i (its seed, services and culprit)
// goes without.
type drawFunc func(i int, seed int64, services []string, culprit string) Missing

// ShapeExamplesWithout simulates the same scenarios as ShapeExamples
// without missing (the same seeds and faults), each replayed without m's
// families: how a shape would be scored on a system that never ships them
// (a gRPC shop whose spans never carry a status).
func ShapeExamplesWithout(shape rcasim.Shape, n int, seed uint64, s Settings, m Missing) ([]Labeled, error) {
	if len(m.Hidden) == 0 && !m.HideCulprit && m.HideBystanders == 0 {
		return shapeExamples(shape, n, seed, s, simFaults, false, false, func(int, int64, []string, string) Missing { return m })
	}
	return shapeExamples(shape, n, seed, s, simFaults, false, true, func(_ int, seed int64, services []string, culprit string) Missing {
		sm := m // this scenario's: m stays as given
		sm.Hidden = maps.Clone(m.Hidden)
		if sm.Hidden == nil {
			sm.Hidden = map[string]bool{}
		}
		if m.HideCulprit && culprit != "" && culprit != services[0] {
			sm.Hidden[culprit] = true
		}
		if m.HideBystanders > 0 {
			rng := rand.New(rand.NewPCG(uint64(seed), 0xb157))
			maps.Copy(sm.Hidden, pickBystanders(rng, services, culprit, m.HideBystanders))
		}
		return sm
	})
}

// entryFaults are the kinds an entry service can be the culprit of
// (rcasim's graph.rootFaults).
var entryFaults = []string{rcasim.FaultCPU, rcasim.FaultException, rcasim.FaultReturn}

// EntryExamples simulates n scenarios of the shape whose culprit is its
// entry service (the shop's frontend, the chain's gateway) with a CPU,
// exception or return fault in turn, replayed without m's families. It
// is for those two shapes: TrainTicket's gateway only routes and is never
// a culprit (rcasim's graph.rootFaults).
func EntryExamples(shape rcasim.Shape, n int, seed uint64, s Settings, m Missing) ([]Labeled, error) {
	return shapeExamples(shape, n, seed, s, entryFaults, true, false, func(int, int64, []string, string) Missing { return m })
}

// shapeExamples simulates and labels n scenarios; clientSpans generates
// them with rcasim.Config.ClientSpans (a hidden service's callers name it).
func shapeExamples(shape rcasim.Shape, n int, seed uint64, s Settings, faults []string, entry, clientSpans bool, draw drawFunc) ([]Labeled, error) {
	stream := uint64(0x51a)
	if i := slices.Index(rcasim.Shapes, shape); i > 0 {
		stream = 0x51a0 + uint64(i)
	}
	rng := rand.New(rand.NewPCG(seed, stream))
	base := time.Date(2023, 1, 29, 8, 0, 0, 0, time.UTC)
	span, traces := shapeServices[shape], shapeTraces[shape]
	source := "sim"
	if shape != rcasim.ShapeTrainTicket {
		source = "sim/" + string(shape)
	}
	out := make([]Labeled, 0, n)
	for i := range n {
		cfg := rcasim.Config{
			Seed:          int64(rng.Uint64() >> 1),
			Services:      span[0] + rng.IntN(span[1]-span[0]+1),
			Start:         base.Add(time.Duration(i)*time.Hour + time.Duration(rng.IntN(30))*time.Second),
			Step:          10 * time.Second,
			NormalSteps:   15,
			FaultSteps:    9,
			TracesPerStep: traces[0] + rng.IntN(traces[1]-traces[0]+1),
			Fault:         faults[i%len(faults)],
			Shape:         shape,
		}
		if entry {
			cfg.FaultService = shape.EntryService()
		}
		cfg.ClientSpans = clientSpans
		sc := rcasim.Generate(cfg)
		f, err := NewFeeder(s, sc.InjectAt.Add(s.Delay))
		if err != nil {
			return nil, err
		}
		m := draw(i, cfg.Seed, sc.Services, sc.FaultService)
		for _, b := range sc.Batches {
			td, ld, md := m.apply(b.Traces, b.Logs, b.Metrics)
			f.Feed(td, ld, md)
		}
		f.Close()
		if l, ok := label(f.Graph, sc.FaultService, source, sc.Fault); ok {
			out = append(out, l)
		}
	}
	return out, nil
}
