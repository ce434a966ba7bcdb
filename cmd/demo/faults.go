package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

var services = []string{"gateway", "order", "inventory", "payment", "fulfilment", "notification"}

// faults are the failure modes switched on from the command line.
type faults struct {
	latency        perService[time.Duration] // -fault-latency=payment:300ms
	errors         perService[float64]       // -fault-errors=payment:0.2
	timeoutCascade bool                      // -fault-timeout-cascade
	lostHeader     bool                      // -fault-lost-header
	from           time.Time                 // -fault-after: faults are off before this
}

// on reports whether the faults are active: a fault-free start gives the
// root-cause ranking a baseline to compare the fault with.
func (f *faults) on() bool { return f.from.IsZero() || !time.Now().Before(f.from) }

func (f *faults) cascade() bool     { return f.timeoutCascade && f.on() }
func (f *faults) lostHeaders() bool { return f.lostHeader && f.on() }

var errInjected = errors.New("injected fault")

// inject applies the service's configured latency, then fails with the
// configured probability.
func (f *faults) inject(ctx context.Context, r *rng, service string) error {
	if !f.on() {
		return nil
	}
	if d := f.latency[service]; d > 0 {
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if p := f.errors[service]; p > 0 && r.Float64() < p {
		return fmt.Errorf("%s: %w", service, errInjected)
	}
	return nil
}

// perService is a repeatable "service:value" flag; a value may also hold
// several comma-separated pairs.
type perService[T any] map[string]T

func (m perService[T]) String() string {
	var b strings.Builder
	for _, s := range services {
		if v, ok := m[s]; ok {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s:%v", s, v)
		}
	}
	return b.String()
}

func (m perService[T]) Set(s string) error {
	for pair := range strings.SplitSeq(s, ",") {
		svc, val, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || !slices.Contains(services, svc) {
			return fmt.Errorf("want <service>:<value> with service one of %s, got %q", strings.Join(services, ", "), pair)
		}
		v, err := parseFaultValue[T](val)
		if err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		m[svc] = v
	}
	return nil
}

func parseFaultValue[T any](s string) (T, error) {
	var zero T
	switch p := any(&zero).(type) {
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return zero, fmt.Errorf("bad duration %q", s)
		}
		*p = d
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 1 {
			return zero, fmt.Errorf("bad rate %q (want 0..1)", s)
		}
		*p = f
	}
	return zero, nil
}

// rng is a seeded random source shared by the goroutines of the demo.
type rng struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newRNG(seed uint64) *rng { return &rng{r: rand.New(rand.NewPCG(seed, seed^0x5eed))} }

func (g *rng) Float64() float64 { g.mu.Lock(); defer g.mu.Unlock(); return g.r.Float64() }
func (g *rng) IntN(n int) int   { g.mu.Lock(); defer g.mu.Unlock(); return g.r.IntN(n) }

// logNormal draws a latency around median with spread sigma, clamped to
// [lo, hi]: service latencies are right-skewed, with a long tail.
func (g *rng) logNormal(median time.Duration, sigma float64, lo, hi time.Duration) time.Duration {
	g.mu.Lock()
	n := g.r.NormFloat64()
	g.mu.Unlock()
	d := time.Duration(float64(median) * math.Exp(sigma*n))
	return min(max(d, lo), hi)
}

// sleep waits for d or until ctx is done (then returns its error, e.g.
// context.DeadlineExceeded).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
