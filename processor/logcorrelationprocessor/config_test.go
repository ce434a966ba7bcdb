package logcorrelationprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	full := createDefaultConfig().(*Config)
	full.Custom = []CustomConfig{{Pattern: `\[(?P<trace_id>[0-9a-fA-F]{32})\s*,\s*(?P<span_id>[0-9a-fA-F]{16})\]`}}
	onlyMDC := createDefaultConfig().(*Config)
	onlyMDC.Extractors = []ExtractorType{ExtractorTypeMDC}
	onlyMDC.RemoveFromBody = true

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: full},
		{id: component.NewIDWithName(metadata.Type, "defaults"), want: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(metadata.Type, "only_mdc"), want: onlyMDC},
		{id: component.NewIDWithName(metadata.Type, "unknown_extractor"), wantErr: `unknown extractor "logfmt"`},
		{id: component.NewIDWithName(metadata.Type, "bad_custom"), wantErr: "'custom[0].pattern': error parsing regexp"},
		{id: component.NewIDWithName(metadata.Type, "custom_without_trace_group"), wantErr: "'custom[0].pattern' \"tid=([0-9a-f]{32})\" has no named group (?P<trace_id>...)"},
		{id: component.NewIDWithName(metadata.Type, "nothing"), wantErr: "'extractors', 'custom' and 'attributes' are all empty"},
		{id: component.NewIDWithName(metadata.Type, "twice"), wantErr: "'extractors[1]' \"mdc\" is listed twice"},
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
