package metricguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor"

import (
	"errors"

	"go.opentelemetry.io/collector/confmap"
)

// Config defines configuration for the metric_guard processor.
type Config struct {
	// MaxBuckets bounds the buckets of one histogram point (an explicit
	// histogram's bounds + 1, an exponential histogram's positive plus
	// negative buckets); larger points are dropped. Default: 4096.
	MaxBuckets int `mapstructure:"max_buckets"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	if cfg.MaxBuckets <= 0 {
		return errors.New("'max_buckets' must be greater than 0")
	}
	return nil
}
