package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// Config defines configuration for the gnn_root_cause connector.
type Config struct {
	// Window is the ranking period, in event time (span end). Default: 30s.
	Window time.Duration `mapstructure:"window"`
	// Baseline is the history each service's features are compared with. Default: 10m.
	Baseline time.Duration `mapstructure:"baseline"`
	// TopK is the number of candidates per report. Default: 5.
	TopK int `mapstructure:"top_k"`
	// MaxServices bounds the services tracked (beyond: "_other"). Default: 2000.
	MaxServices int `mapstructure:"max_services"`
	// MaxEdges bounds the caller -> callee edges per window. Default: 20000.
	MaxEdges int `mapstructure:"max_edges"`
	// MaxOperations bounds the operation names tracked. Default: 20000.
	MaxOperations int `mapstructure:"max_operations"`
	// MaxSpansPerWindow bounds the spans one window keeps (beyond: counted). Default: 500000.
	MaxSpansPerWindow int `mapstructure:"max_spans_per_window"`
	// MaxLateness is how long after a window's end late spans still count. Default: 10s.
	MaxLateness time.Duration `mapstructure:"max_lateness"`
	// Model is a weights file; empty: the embedded weights. Default: "".
	Model string `mapstructure:"model"`
	// MinAnomaly: a report is emitted only when some service scores at least this. Default: 3.0.
	MinAnomaly float64 `mapstructure:"min_anomaly"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	var errs error
	if cfg.Window <= 0 {
		errs = errors.Join(errs, errors.New("'window' must be greater than 0"))
	}
	if cfg.Baseline < 3*cfg.Window {
		errs = errors.Join(errs, errors.New("'baseline' must be at least 3 windows"))
	}
	if cfg.TopK <= 0 {
		errs = errors.Join(errs, errors.New("'top_k' must be greater than 0"))
	}
	for _, b := range []struct {
		key string
		v   int
	}{{"max_services", cfg.MaxServices}, {"max_edges", cfg.MaxEdges}, {"max_operations", cfg.MaxOperations}, {"max_spans_per_window", cfg.MaxSpansPerWindow}} {
		if b.v <= 0 {
			errs = errors.Join(errs, errors.New("'"+b.key+"' must be greater than 0"))
		}
	}
	if cfg.MaxLateness < 0 {
		errs = errors.Join(errs, errors.New("'max_lateness' must not be negative"))
	}
	if cfg.MinAnomaly <= 0 {
		errs = errors.Join(errs, errors.New("'min_anomaly' must be greater than 0"))
	}
	return errs
}

func defaultConfig() *Config {
	return &Config{
		Window:            30 * time.Second,
		Baseline:          10 * time.Minute,
		TopK:              5,
		MaxServices:       2000,
		MaxEdges:          20000,
		MaxOperations:     20000,
		MaxSpansPerWindow: 500_000,
		MaxLateness:       10 * time.Second,
		MinAnomaly:        3.0,
	}
}
