package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// Method is how the services of a window are ranked.
type Method string

const (
	// MethodGNN ranks with the message-passing graph network.
	MethodGNN Method = "gnn"
	// MethodPageRank is the personalised PageRank baseline.
	MethodPageRank Method = "pagerank"
	// MethodTraceRCA is the anomalous-call-set baseline.
	MethodTraceRCA Method = "tracerca"
	// MethodLatency ranks by the latency z alone.
	MethodLatency Method = "latency"
)

var methods = []Method{MethodGNN, MethodPageRank, MethodTraceRCA, MethodLatency}

// UnmarshalText accepts the known methods only.
func (m *Method) UnmarshalText(text []byte) error {
	if err := Method(text).validate(); err != nil {
		return err
	}
	*m = Method(text)
	return nil
}

func (m Method) validate() error {
	if !slices.Contains(methods, m) {
		return fmt.Errorf("'method' must be one of %v, got %q", methods, string(m))
	}
	return nil
}

// Config defines configuration for the gnn_root_cause connector.
type Config struct {
	// Window is the ranking period, in event time (span end). Default: 30s.
	Window time.Duration `mapstructure:"window"`
	// Baseline is the history each service's features are compared with. Default: 10m.
	Baseline time.Duration `mapstructure:"baseline"`
	// TopK is the number of candidates per report. Default: 5.
	TopK int `mapstructure:"top_k"`
	// MaxServices bounds the services tracked, the peer names CLIENT spans
	// give blind spots among them (beyond: "_other", and no peer).
	// Default: 2000.
	MaxServices int `mapstructure:"max_services"`
	// MaxEdges bounds the caller -> callee edges per window and in the
	// baselines, and separately the call patterns (an endpoint's calls to a
	// callee operation, its own spans, its fan-out, its last calls, its
	// answers' sizes) per window, in the baselines and in runs (beyond:
	// counted). Default: 20000.
	MaxEdges int `mapstructure:"max_edges"`
	// MaxOperations bounds the operation names and per-operation baselines. Default: 20000.
	MaxOperations int `mapstructure:"max_operations"`
	// MaxPods bounds the pod names tracked. Default: 20000.
	MaxPods int `mapstructure:"max_pods"`
	// MaxSpansPerWindow bounds the spans (and ERROR logs, and log records
	// waiting for their span) one window keeps (beyond: counted). Default: 500000.
	MaxSpansPerWindow int `mapstructure:"max_spans_per_window"`
	// MaxLogTemplates bounds the log templates (per service and endpoint),
	// and separately the statement pairs, counted per window and kept in the
	// baselines, and the runs of new templates (beyond: counted). Default: 20000.
	MaxLogTemplates int `mapstructure:"max_log_templates"`
	// MaxMetricSeries bounds the pod CPU and memory series (pod and kind)
	// one window keeps; samples of further series are counted. Default:
	// 40000 (both kinds of max_pods pods).
	MaxMetricSeries int `mapstructure:"max_metric_series"`
	// MaxLateness is how long after a window's end late spans still count. Default: 10s.
	MaxLateness time.Duration `mapstructure:"max_lateness"`
	// MaxFuture: spans, log records and samples stamped further than this
	// ahead of the collector's clock are dropped as bad clocks and counted
	// (reason future_timestamp). Default: 1h.
	MaxFuture time.Duration `mapstructure:"max_future"`
	// Model is a weights file written by cmd/gnntrain; empty: the embedded weights. Default: "".
	Model string `mapstructure:"model"`
	// MinAnomaly: a report is emitted only when some service's robust z reaches this. Default: 3.0.
	MinAnomaly float64 `mapstructure:"min_anomaly"`
	// Method ranks the services: gnn, or a baseline (pagerank, tracerca, latency). Default: gnn.
	Method Method `mapstructure:"method"`
	// CPUMetrics are the metric names read as pod CPU. Default: kubeletstats' and the Nezha replay's names.
	CPUMetrics []string `mapstructure:"cpu_metrics"`
	// MemoryMetrics are the metric names read as pod memory. Default: kubeletstats' and the Nezha replay's names.
	MemoryMetrics []string `mapstructure:"memory_metrics"`
	// IdleFlush closes the open windows when no span has arrived for this
	// long (processing time), so the last window of a quiet period is
	// reported. 0 disables. Default: 45s.
	IdleFlush time.Duration `mapstructure:"idle_flush"`

	// model is Model as Validate read it: the instance uses the weights
	// that were validated, and reads the file once.
	model *loadedModel

	// prevent unkeyed literal initialization
	_ struct{}
}

type loadedModel struct {
	path  string
	model *rootcause.Model
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
	}{
		{"max_services", cfg.MaxServices}, {"max_edges", cfg.MaxEdges}, {"max_operations", cfg.MaxOperations}, {"max_pods", cfg.MaxPods},
		{"max_spans_per_window", cfg.MaxSpansPerWindow}, {"max_log_templates", cfg.MaxLogTemplates}, {"max_metric_series", cfg.MaxMetricSeries},
	} {
		if b.v <= 0 {
			errs = errors.Join(errs, errors.New("'"+b.key+"' must be greater than 0"))
		}
	}
	if cfg.MaxLateness < 0 {
		errs = errors.Join(errs, errors.New("'max_lateness' must not be negative"))
	}
	if cfg.MaxFuture <= 0 {
		errs = errors.Join(errs, errors.New("'max_future' must be greater than 0"))
	}
	if cfg.IdleFlush < 0 {
		errs = errors.Join(errs, errors.New("'idle_flush' must not be negative"))
	}
	if cfg.MinAnomaly <= 0 {
		errs = errors.Join(errs, errors.New("'min_anomaly' must be greater than 0"))
	}
	if err := cfg.Method.validate(); err != nil {
		errs = errors.Join(errs, err)
	}
	if err := cfg.loadModel(); err != nil {
		errs = errors.Join(errs, err)
	}
	return errs
}

// loadModel reads and checks the model file, unless it has read this path
// already.
func (cfg *Config) loadModel() error {
	if cfg.Model == "" || (cfg.model != nil && cfg.model.path == cfg.Model) {
		return nil
	}
	m, err := rootcause.LoadModel(cfg.Model)
	if err != nil {
		return fmt.Errorf("'model': %w", err)
	}
	cfg.model = &loadedModel{path: cfg.Model, model: m}
	return nil
}

// engineConfig maps the YAML onto the engine's configuration.
func (cfg *Config) engineConfig() (rootcause.Config, error) {
	var model *rootcause.Model // nil: the embedded weights
	if cfg.Model != "" {
		if err := cfg.loadModel(); err != nil {
			return rootcause.Config{}, err
		}
		model = cfg.model.model
	}
	method, err := rootcause.NewMethod(string(cfg.Method), model)
	if err != nil {
		return rootcause.Config{}, fmt.Errorf("'method': %w", err)
	}
	return rootcause.Config{
		Window: cfg.Window, Baseline: cfg.Baseline, MaxLateness: cfg.MaxLateness, MaxFuture: cfg.MaxFuture, TopK: cfg.TopK,
		MaxServices: cfg.MaxServices, MaxEdges: cfg.MaxEdges, MaxOperations: cfg.MaxOperations, MaxPods: cfg.MaxPods,
		MaxSpansPerWindow: cfg.MaxSpansPerWindow, MaxLogTemplates: cfg.MaxLogTemplates, MaxMetricSeries: cfg.MaxMetricSeries,
		MinAnomaly: cfg.MinAnomaly, Method: method, CPUMetrics: cfg.CPUMetrics, MemoryMetrics: cfg.MemoryMetrics,
	}, nil
}
