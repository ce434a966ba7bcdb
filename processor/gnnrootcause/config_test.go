package gnnrootcause

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    func(*Config)
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: func(*Config) {}},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: func(c *Config) {
			c.Window, c.Baseline, c.TopK, c.MaxServices, c.MaxEdges = 10*time.Second, 2*time.Minute, 3, 100, 500
			c.MinAnomaly, c.Method, c.IdleFlush = 4, MethodPageRank, 0
		}},
		{id: component.NewIDWithName(metadata.Type, "metric_series"), want: func(c *Config) { c.MaxMetricSeries = 500 }},
		{id: component.NewIDWithName(metadata.Type, "zero_metric_series"), wantErr: "'max_metric_series' must be greater than 0"},
		{id: component.NewIDWithName(metadata.Type, "negative_metric_series"), wantErr: "'max_metric_series' must be greater than 0"},
		{id: component.NewIDWithName(metadata.Type, "max_future"), want: func(c *Config) { c.MaxFuture = 5 * time.Minute }},
		{id: component.NewIDWithName(metadata.Type, "zero_max_future"), wantErr: "'max_future' must be greater than 0"},
		{id: component.NewIDWithName(metadata.Type, "short_baseline"), wantErr: "'baseline' must be at least 3 windows"},
		{id: component.NewIDWithName(metadata.Type, "bad_method"), wantErr: `'method' must be one of [gnn pagerank tracerca latency], got "bayes"`},
		{id: component.NewIDWithName(metadata.Type, "missing_model"), wantErr: "'model': open testdata/missing.json"},
		{id: component.NewIDWithName(metadata.Type, "zero_bounds"), wantErr: "'max_edges' must be greater than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			want := createDefaultConfig().(*Config)
			tt.want(want)
			assert.Equal(t, want, cfg)
		})
	}
}

// TestMethods: the YAML values are the engine's methods.
func TestMethods(t *testing.T) {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = string(m)
	}
	assert.Equal(t, rootcause.Methods, names)
	var m Method
	require.NoError(t, m.UnmarshalText([]byte("tracerca")))
	assert.Equal(t, MethodTraceRCA, m)
	require.ErrorContains(t, m.UnmarshalText([]byte("GNN")), `'method' must be one of [gnn pagerank tracerca latency], got "GNN"`)
	assert.Equal(t, MethodTraceRCA, m, "unchanged by a rejected value")
}

// TestModelReadOnce: the instance uses the weights Validate read; the
// file is not read again.
func TestModelReadOnce(t *testing.T) {
	b, err := rootcause.NewModel(4, 1, 1).Marshal()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "model.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.Model = path
	require.NoError(t, confmap.Validate(cfg))
	require.NoError(t, os.Remove(path))
	ecfg, err := cfg.engineConfig()
	require.NoError(t, err)
	assert.Equal(t, 4, ecfg.Method.(*rootcause.Model).Hidden)
}
