package rcatrain

import (
	"math/rand/v2"
	"time"

	"github.com/otelcol-biz/otelcol-biz/internal/rcasim"
)

// SimScenarios is the number of simulated faults cmd/gnntrain trains on.
const SimScenarios = 300

// simFaults are the kinds the simulator injects, in turn.
var simFaults = []string{rcasim.FaultCPU, rcasim.FaultDelay, rcasim.FaultException, rcasim.FaultReturn, rcasim.FaultTimeoutCascade}

// SimExamples simulates n faults and returns their scored windows: each
// scenario has 20-45 services, sparse traffic like the real data's (a few
// traces per second), 2.5 min of normal traffic, then the fault; inject
// times are not window-aligned. Each scenario ships the signal families a
// Missing draw gives it (see drawMissing).
func SimExamples(n int, seed uint64, s Settings) ([]Labeled, error) {
	rng := rand.New(rand.NewPCG(seed, 0x51a))
	base := time.Date(2023, 1, 29, 8, 0, 0, 0, time.UTC)
	out := make([]Labeled, 0, n)
	for i := range n {
		cfg := rcasim.Config{
			Seed:          int64(rng.Uint64() >> 1),
			Services:      20 + rng.IntN(26),
			Start:         base.Add(time.Duration(i)*time.Hour + time.Duration(rng.IntN(30))*time.Second),
			Step:          10 * time.Second,
			NormalSteps:   15,
			FaultSteps:    9,
			TracesPerStep: 15 + rng.IntN(40),
			Fault:         simFaults[i%len(simFaults)],
		}
		sc := rcasim.Generate(cfg)
		f, err := NewFeeder(s, sc.InjectAt.Add(s.Delay))
		if err != nil {
			return nil, err
		}
		m := drawMissing(i, cfg.Seed, sc.Services)
		for _, b := range sc.Batches {
			td, ld, md := m.apply(b.Traces, b.Logs, b.Metrics)
			f.Feed(td, ld, md)
		}
		f.Close()
		if l, ok := label(f.Graph, sc.FaultService, "sim", sc.Fault); ok {
			out = append(out, l)
		}
	}
	return out, nil
}
