package bizdyeprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.Keys = []KeyConfig{
		{Name: "order_id", From: []SourceConfig{
			{Attribute: "order_id"},
			{Attribute: "app.order.id"},
			{Header: "x-order-id"},
			{Baggage: "order_id"},
			{URLPath: "/api/orders/{value}"},
			{Regex: &RegexSourceConfig{Attribute: "messaging.kafka.message.key", Pattern: "^(?P<value>ORD-[0-9]+)$"}},
			{LogBody: "order_id=(?P<value>[A-Za-z0-9-]+)"},
		}},
		{Name: "user_id", From: []SourceConfig{{Attribute: "user.id"}}, Hash: true, DropSource: true},
		{Name: "user_tier", From: []SourceConfig{{Baggage: "user_tier"}}},
		{Name: "canary", From: []SourceConfig{{Attribute: "canary"}}},
	}
	full.HashSalt = "pepper"
	full.Wait = 2 * time.Second
	full.TTL = 10 * time.Minute
	full.Keep = KeepConfig{Attribute: "biz.keep", When: []KeepRuleConfig{{Key: "user_tier", Equals: "vip"}, {Key: "canary", Equals: "true"}}}

	minimal := createDefaultConfig().(*Config)
	minimal.Keys = []KeyConfig{{Name: "order_id", From: []SourceConfig{{Attribute: "order_id"}}}}

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr []string
	}{
		{id: component.NewID(metadata.Type), want: full},
		{id: component.NewIDWithName(metadata.Type, "minimal"), want: minimal},
		{id: component.NewIDWithName(metadata.Type, "bad_regex"), wantErr: []string{"'keys[0].from[0]' (order_id): 'regex.pattern'", "missing closing ]"}},
		{id: component.NewIDWithName(metadata.Type, "regex_without_value_group"), wantErr: []string{"'log_body'", "(?P<value>...)"}},
		{id: component.NewIDWithName(metadata.Type, "template_without_value"), wantErr: []string{"'url_path'", "{value}"}},
		{id: component.NewIDWithName(metadata.Type, "empty_keys"), wantErr: []string{"'keys' must list at least one key"}},
		{id: component.NewIDWithName(metadata.Type, "zero_bounds"), wantErr: []string{"'max_traces' must be greater than 0", "'max_buffered_spans' must be greater than 0", "'wait' must be greater than 0"}},
		{id: component.NewIDWithName(metadata.Type, "two_sources_in_one"), wantErr: []string{"'keys[0].from[0]' (order_id): exactly one of"}},
		{id: component.NewIDWithName(metadata.Type, "keep_unknown_key"), wantErr: []string{"'keep.when[0].key' \"tier\""}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, want := range tt.wantErr {
					assert.ErrorContains(t, err, want)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
