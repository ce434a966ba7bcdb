package durablekafkareceiver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.uber.org/zap"
)

// TestSASL: the receiver authenticates with each mechanism against a
// broker that requires SASL, and a wrong password gets nothing.
func TestSASL(t *testing.T) {
	tests := []struct {
		mechanism SASLMechanism
		password  string
		wantRead  bool
	}{
		{mechanism: SASLMechanismPlain, password: "secret", wantRead: true},
		{mechanism: SASLMechanismScramSHA256, password: "secret", wantRead: true},
		{mechanism: SASLMechanismScramSHA512, password: "secret", wantRead: true},
		{mechanism: SASLMechanismScramSHA256, password: "wrong"},
	}
	for _, tt := range tests {
		t.Run(string(tt.mechanism)+"/"+tt.password, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, defaultTracesTopic),
				kfake.EnableSASL(), kfake.Superuser(string(tt.mechanism), "gateway", "secret"),
				kfake.GroupMinSessionTimeout(100*time.Millisecond))
			require.NoError(t, err)
			t.Cleanup(c.Close)
			good := &SASLConfig{Mechanism: tt.mechanism, Username: "gateway", Password: "secret"}
			producer, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(saslMechanism(good)))
			require.NoError(t, err)
			defer producer.Close()
			require.NoError(t, producer.ProduceSync(context.Background(), spanRecords(1, 0)...).FirstErr())

			cfg := testConfig(c, "sasl")
			cfg.SASL = configoptional.Some(SASLConfig{Mechanism: tt.mechanism, Username: "gateway", Password: configopaque.String(tt.password)})
			next := newSink()
			startTraces(t, cfg, next)
			if tt.wantRead {
				require.Eventually(t, func() bool { return next.total() == 1 }, waitFor, tick)
				return
			}
			require.Never(t, func() bool { return next.total() > 0 }, 300*time.Millisecond, 10*time.Millisecond)
		})
	}
}

// TestClientOptsTLS: a tls block that cannot load is an error of Start; an
// insecure one keeps plaintext.
func TestClientOptsTLS(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	tls := configtls.NewDefaultClientConfig()
	tls.CAFile = filepath.Join("testdata", "missing-ca.pem")
	cfg.TLS = configoptional.Some(tls)
	_, err := clientOpts(context.Background(), cfg, defaultTracesTopic, zap.NewNop())
	require.ErrorContains(t, err, "'tls'")

	tls = configtls.NewDefaultClientConfig()
	tls.Insecure = true
	cfg.TLS = configoptional.Some(tls)
	plain, err := clientOpts(context.Background(), cfg, defaultTracesTopic, zap.NewNop())
	require.NoError(t, err)
	cfg.TLS = configoptional.Some(configtls.NewDefaultClientConfig())
	withTLS, err := clientOpts(context.Background(), cfg, defaultTracesTopic, zap.NewNop())
	require.NoError(t, err)
	require.Len(t, withTLS, len(plain)+1, "one more option: DialTLSConfig")
}
