package lokiexporter

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	const endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	full := createDefaultConfig().(*Config)
	full.ClientConfig.Endpoint = endpoint
	full.TenantID = "shop"
	full.Encoding = EncodingTypeJSON
	full.Labels = LabelsConfig{
		Resource:   map[string]string{"service.name": "service_name", "k8s.namespace.name": "namespace"},
		Attributes: map[string]string{"level": "level"},
	}
	full.StructuredMetadata.ResourceAttributes = []string{"k8s.pod.name"}
	defaults := createDefaultConfig().(*Config)
	defaults.ClientConfig.Endpoint = endpoint

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: full},
		{id: component.NewIDWithName(metadata.Type, "defaults"), want: defaults},
		{id: component.NewIDWithName(metadata.Type, "no_endpoint"), wantErr: "'endpoint' must be set"},
		{id: component.NewIDWithName(metadata.Type, "trace_id_as_label"), wantErr: `'labels.attributes': "trace_id" is per-trace`},
		{id: component.NewIDWithName(metadata.Type, "biz_key_as_label"), wantErr: `'labels.attributes': "biz.order_id" is per-trace`},
		{id: component.NewIDWithName(metadata.Type, "bad_label_name"), wantErr: `'labels.resource' maps "service.name" to "service.name", which is not a valid Loki label name`},
		{id: component.NewIDWithName(metadata.Type, "bad_encoding"), wantErr: `unknown encoding "avro"`},
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

// TestValidateNoLabels: YAML cannot empty the default label map (confmap
// merges maps), so this branch is checked on the struct.
func TestValidateNoLabels(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	cfg.Labels = LabelsConfig{}
	require.ErrorContains(t, cfg.Validate(), "'labels' must map at least one attribute to a label")
}
