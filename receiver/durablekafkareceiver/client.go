package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"
)

// fetchMaxWait is how long a broker may hold a fetch open waiting for
// data (contrib's max_fetch_wait default). Partitions assigned or resumed
// meanwhile join the next fetch only: franz-go's 5s default would stall a
// takeover or a resume that long.
const fetchMaxWait = 250 * time.Millisecond

// clientOpts are the franz-go options of one signal's group consumer.
// Autocommit is off: the receiver commits watermarks itself.
func clientOpts(ctx context.Context, cfg *Config, topic string, logger *zap.Logger) ([]kgo.Opt, error) {
	reset := kgo.NewOffset().AtEnd()
	if cfg.InitialOffset == InitialOffsetEarliest {
		reset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.ConsumerGroup(cfg.GroupID),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.WithLogger(kzap.New(logger.Named("franz"))),
		// some brokers claim client metrics support they lack (as contrib)
		kgo.DisableClientMetrics(),
	}
	if tlsCfg := cfg.TLS.Get(); tlsCfg != nil {
		tc, err := tlsCfg.LoadTLSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("'tls': %w", err)
		}
		if tc != nil { // nil: insecure, plaintext
			opts = append(opts, kgo.DialTLSConfig(tc))
		}
	}
	if s := cfg.SASL.Get(); s != nil {
		opts = append(opts, kgo.SASL(saslMechanism(s)))
	}
	return opts, nil
}

func saslMechanism(s *SASLConfig) sasl.Mechanism {
	pass := string(s.Password)
	switch s.Mechanism {
	case SASLMechanismScramSHA256:
		return scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism()
	case SASLMechanismScramSHA512:
		return scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism()
	default: // PLAIN; Validate refused anything else
		return plain.Auth{User: s.Username, Pass: pass}.AsMechanism()
	}
}
