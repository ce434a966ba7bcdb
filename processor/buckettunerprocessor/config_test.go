package buckettunerprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	storageID := component.MustNewID("file_storage")
	full := &Config{Storage: &storageID, MaxMetrics: defaultMaxMetrics, Rules: []RuleConfig{
		{Match: `^(duration|http\.server\.request\.duration|rpc\.server\.duration)$`, Mode: ModeTypeAuto, MaxBuckets: 16,
			Quantiles: []float64{0.5, 0.9, 0.95, 0.99}, LearnFor: 5 * time.Minute, RetuneWhenErrorAbove: 0.05},
		{Match: `^queue\.wait$`, Mode: ModeTypeStatic, Boundaries: []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5}},
	}}
	autoDefaults := &Config{MaxMetrics: defaultMaxMetrics, Rules: []RuleConfig{
		{Match: "duration", Mode: ModeTypeAuto, MaxBuckets: 16, Quantiles: []float64{0.5, 0.9, 0.95, 0.99}, LearnFor: 5 * time.Minute, RetuneWhenErrorAbove: 0.05},
	}}
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: full},
		{id: component.NewIDWithName(metadata.Type, "auto_defaults"), want: autoDefaults},
		{id: component.NewIDWithName(metadata.Type, "no_rules"), wantErr: "'rules' must list at least one rule"},
		{id: component.NewIDWithName(metadata.Type, "bad_regex"), wantErr: "'rules[0].match': error parsing regexp"},
		{id: component.NewIDWithName(metadata.Type, "static_unsorted"), wantErr: "'rules[0].boundaries' must be strictly increasing"},
		{id: component.NewIDWithName(metadata.Type, "static_without_boundaries"), wantErr: "'rules[0].boundaries' must be set for mode static"},
		{id: component.NewIDWithName(metadata.Type, "bad_quantile"), wantErr: "'rules[0].quantiles[1]' must be in (0, 1)"},
		{id: component.NewIDWithName(metadata.Type, "bad_mode"), wantErr: `unknown mode "dynamic"`},
		{id: component.NewIDWithName(metadata.Type, "zero_max_metrics"), wantErr: "'max_metrics' must be greater than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
