package spanguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// Config defines configuration for the span_guard processor.
type Config struct {
	// MaxDuration is the longest duration a span may have; a longer one is
	// repaired to a zero duration at whichever of its timestamps lies nearer
	// the collector's clock (reason too_long). 0 turns the check off.
	// Default: 24h.
	MaxDuration time.Duration `mapstructure:"max_duration"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	if cfg.MaxDuration < 0 {
		return errors.New("'max_duration' must not be negative (0 turns the check off)")
	}
	return nil
}
