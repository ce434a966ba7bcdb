package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// ModeType is how a rule chooses its boundaries.
type ModeType string

const (
	// ModeTypeAuto learns boundaries from the data.
	ModeTypeAuto ModeType = "auto"
	// ModeTypeStatic uses the configured boundaries.
	ModeTypeStatic ModeType = "static"
)

// UnmarshalText validates the mode.
func (m *ModeType) UnmarshalText(text []byte) error {
	switch t := ModeType(text); t {
	case ModeTypeAuto, ModeTypeStatic:
		*m = t
		return nil
	}
	return fmt.Errorf("unknown mode %q: use auto or static", text)
}

// Config defines configuration for the bucket_tuner processor.
type Config struct {
	// Storage is a storage extension (file_storage) where learned boundaries
	// persist, so a restart keeps identical boundaries. Default: none.
	Storage *component.ID `mapstructure:"storage"`
	// Rules: the first rule whose `match` matches a histogram's name applies. Required.
	Rules []RuleConfig `mapstructure:"rules"`
	// MaxMetrics bounds the metric names with learned state; histograms of
	// further names pass through unchanged (counted). Default: 1000.
	MaxMetrics int `mapstructure:"max_metrics"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RuleConfig is one rule.
type RuleConfig struct {
	// Match is a regular expression on the metric name. Required.
	Match string `mapstructure:"match"`
	// Mode is auto or static. Default: auto.
	Mode ModeType `mapstructure:"mode"`
	// MaxBuckets is the number of finite boundaries auto mode chooses. Default: 16.
	MaxBuckets int `mapstructure:"max_buckets"`
	// Quantiles are where auto mode makes histogram_quantile accurate. Default: [0.5, 0.9, 0.95, 0.99].
	Quantiles []float64 `mapstructure:"quantiles"`
	// LearnFor is how long auto mode observes before choosing (points are
	// written on provisional boundaries until then), and the period of its
	// error checks. Default: 5m.
	LearnFor time.Duration `mapstructure:"learn_for"`
	// RetuneWhenErrorAbove: relative quantile error that makes auto mode
	// choose new boundaries (a new version). Default: 0.05.
	RetuneWhenErrorAbove float64 `mapstructure:"retune_when_error_above"`
	// Boundaries, strictly increasing: static mode's boundaries; in auto
	// mode, optional provisional boundaries used until the first learned set,
	// instead of powers of 2 derived from the input. Default: none.
	Boundaries []float64 `mapstructure:"boundaries"`

	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	var errs error
	if len(cfg.Rules) == 0 {
		errs = errors.Join(errs, errors.New("'rules' must list at least one rule"))
	}
	if cfg.MaxMetrics <= 0 {
		errs = errors.Join(errs, errors.New("'max_metrics' must be greater than 0"))
	}
	for i, r := range cfg.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		if r.Match == "" {
			errs = errors.Join(errs, fmt.Errorf("'%s.match' must not be empty", key))
		} else if _, err := regexp.Compile(r.Match); err != nil {
			errs = errors.Join(errs, fmt.Errorf("'%s.match': %w", key, err))
		}
		switch r.Mode {
		case ModeTypeStatic:
			if len(r.Boundaries) == 0 {
				errs = errors.Join(errs, fmt.Errorf("'%s.boundaries' must be set for mode static", key))
			}
		case ModeTypeAuto:
			if r.MaxBuckets < 2 || r.MaxBuckets > 200 {
				errs = errors.Join(errs, fmt.Errorf("'%s.max_buckets' must be between 2 and 200", key))
			}
			if len(r.Quantiles) == 0 {
				errs = errors.Join(errs, fmt.Errorf("'%s.quantiles' must not be empty", key))
			}
			for j, q := range r.Quantiles {
				if !(q > 0 && q < 1) {
					errs = errors.Join(errs, fmt.Errorf("'%s.quantiles[%d]' must be in (0, 1), got %v", key, j, q))
				}
			}
			if len(r.Quantiles) > r.MaxBuckets {
				errs = errors.Join(errs, fmt.Errorf("'%s.quantiles' lists more quantiles than 'max_buckets'", key))
			}
			if r.LearnFor <= 0 {
				errs = errors.Join(errs, fmt.Errorf("'%s.learn_for' must be greater than 0", key))
			}
			if !(r.RetuneWhenErrorAbove > 0) {
				errs = errors.Join(errs, fmt.Errorf("'%s.retune_when_error_above' must be greater than 0", key))
			}
		default:
			errs = errors.Join(errs, fmt.Errorf("'%s.mode' must be auto or static", key))
		}
		for j, b := range r.Boundaries {
			if math.IsNaN(b) || math.IsInf(b, 0) {
				errs = errors.Join(errs, fmt.Errorf("'%s.boundaries[%d]' must be finite", key, j))
			} else if j > 0 && b <= r.Boundaries[j-1] {
				errs = errors.Join(errs, fmt.Errorf("'%s.boundaries' must be strictly increasing (%v after %v)", key, b, r.Boundaries[j-1]))
			}
		}
	}
	return errs
}

var _ confmap.Unmarshaler = (*Config)(nil)

// Unmarshal decodes the configuration and fills each rule's unset keys with
// their defaults (list items decode into zero values).
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(cfg); err != nil {
		return err
	}
	ruleDefaults(cfg)
	return nil
}
