package requestguardextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-biz/otelcol-biz/extension/requestguardextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: &Config{MaxDepth: defaultMaxDepth, RetryAfter: defaultRetryAfter}},
		{id: component.NewIDWithName(metadata.Type, "shallow"), want: &Config{MaxDepth: 32, RetryAfter: 5 * time.Second}},
		{id: component.NewIDWithName(metadata.Type, "no_retry_after"), want: &Config{MaxDepth: defaultMaxDepth}},
		{id: component.NewIDWithName(metadata.Type, "negative_retry_after"), wantErr: "'retry_after' must be between 0 and 1h"},
		{id: component.NewIDWithName(metadata.Type, "too_small"), wantErr: "'max_depth' must be between 16 and 10000"},
		{id: component.NewIDWithName(metadata.Type, "too_large"), wantErr: "'max_depth' must be between 16 and 10000"},
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

func TestFactoryConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}
