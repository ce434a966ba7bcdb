package durablekafkareceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadata"
)

func customConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = []string{"kafka-0:9092", "kafka-1:9092"}
	cfg.ClientID = "gateway-a"
	cfg.GroupID = "gateways"
	cfg.InitialOffset = InitialOffsetEarliest
	cfg.SessionTimeout = 30 * time.Second
	cfg.HeartbeatInterval = 5 * time.Second
	cfg.Traces.Topic, cfg.Logs.Topic, cfg.Metrics.Topic = "spans", "logs", "metrics"
	cfg.MaxDepth = 64
	cfg.CommitInterval = 5 * time.Second
	cfg.MaxInflightRecords = 500
	cfg.MaxInflightBytes = 1 << 20
	cfg.ErrorBackOff.InitialInterval = time.Second
	cfg.ErrorBackOff.MaxInterval = 10 * time.Second
	cfg.ErrorBackOff.MaxElapsedTime = time.Minute
	tls := configtls.NewDefaultClientConfig()
	tls.InsecureSkipVerify = true
	cfg.TLS = configoptional.Some(tls)
	cfg.SASL = configoptional.Some(SASLConfig{Mechanism: SASLMechanismScramSHA512, Username: "gateway", Password: "secret"})
	return cfg
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		name    string
		want    *Config
		wantErr string
	}{
		{name: "", want: createDefaultConfig().(*Config)},
		{name: "custom", want: customConfig()},
		{name: "bad_offset", wantErr: "'initial_offset' must be latest or earliest"},
		{name: "bad_mechanism", wantErr: "'sasl.mechanism' must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{name: "no_username", wantErr: "'sasl.username' must not be empty"},
		{name: "no_brokers", wantErr: "'brokers' must list at least one broker"},
		{name: "empty_group", wantErr: "'group_id' must not be empty"},
		{name: "heartbeat_too_long", wantErr: "'heartbeat_interval' must be greater than 0 and less than 'session_timeout'"},
		{name: "same_topic", wantErr: "'traces.topic' and 'logs.topic' must name different topics"},
		{name: "empty_topic", wantErr: "'metrics.topic' must not be empty"},
		{name: "shallow", wantErr: "'max_depth' must be between 16 and 10000"},
		{name: "zero_commit_interval", wantErr: "'commit_interval' must be greater than 0"},
		{name: "zero_inflight_records", wantErr: "'max_inflight_records' must be greater than 0"},
		{name: "zero_inflight_bytes", wantErr: "'max_inflight_bytes' must be greater than 0"},
		{name: "zero_backoff", wantErr: "'error_backoff.initial_interval' must be greater than 0"},
	}
	for _, tt := range tests {
		id := component.NewIDWithName(metadata.Type, tt.name)
		t.Run(id.String(), func(t *testing.T) {
			sub, err := cm.Sub(id.String())
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
