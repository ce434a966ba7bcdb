package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/config/configretry"
)

// backOff is the exponential backoff of configretry for one record: a
// dozen lines, where cenkalti/backoff would add a direct dependency.
type backOff struct {
	cfg      configretry.BackOffConfig
	interval time.Duration
	deadline time.Time // zero: retry for ever
}

func newBackOff(cfg configretry.BackOffConfig) *backOff {
	b := &backOff{cfg: cfg, interval: cfg.InitialInterval}
	if cfg.MaxElapsedTime > 0 {
		b.deadline = time.Now().Add(cfg.MaxElapsedTime)
	}
	return b
}

// next is the delay before the next attempt; false when the backoff is
// disabled or max_elapsed_time has passed.
func (b *backOff) next() (time.Duration, bool) {
	if !b.cfg.Enabled || (!b.deadline.IsZero() && time.Now().After(b.deadline)) {
		return 0, false
	}
	d := b.interval
	if f := b.cfg.RandomizationFactor; f > 0 {
		d = time.Duration(float64(d) * (1 - f + 2*f*rand.Float64())) //nolint:gosec // jitter, not security
	}
	b.interval = time.Duration(float64(b.interval) * max(b.cfg.Multiplier, 1))
	if b.cfg.MaxInterval > 0 {
		b.interval = min(b.interval, b.cfg.MaxInterval)
	}
	return d, true
}
