package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
)

// minMaxDepth and maxMaxDepth bound max_depth: an OTLP request alone nests
// about 8 levels; far deeper, pdata's decoder nears the stack limit.
const minMaxDepth, maxMaxDepth = 16, 10000

// Config defines configuration for the durable_kafka receiver.
type Config struct {
	// Brokers are the seed brokers. Default: ["127.0.0.1:9092"].
	Brokers []string `mapstructure:"brokers"`
	// ClientID is the Kafka client id. Default: "otelcol-biz".
	ClientID string `mapstructure:"client_id"`
	// GroupID is the consumer group; every gateway replica joins it and
	// gets a share of the partitions. Default: "otelcol-biz-gateway".
	GroupID string `mapstructure:"group_id"`
	// InitialOffset is where a group without a committed offset starts:
	// latest or earliest. Default: latest.
	InitialOffset InitialOffset `mapstructure:"initial_offset"`
	// SessionTimeout is how long a member may go silent before the group
	// moves its partitions to another replica. Default: 10s.
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
	// HeartbeatInterval is how often a member tells the group it lives
	// (and learns of rebalances); below session_timeout. Default: 3s.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval"`

	// Traces is the topic of spans. Default: otelcol_biz_spans.
	Traces TopicConfig `mapstructure:"traces"`
	// Logs is the topic of log records. Default: otelcol_biz_logs.
	Logs TopicConfig `mapstructure:"logs"`
	// Metrics is the topic of metrics. Default: otelcol_biz_metrics.
	Metrics TopicConfig `mapstructure:"metrics"`

	// MaxDepth refuses, before decoding, a record nesting protobuf messages
	// deeper than this (pdata's decoder would overflow its stack); such
	// records are skipped as invalid. 16 to 10000. Default: 128.
	MaxDepth int `mapstructure:"max_depth"`
	// CommitInterval is how often the watermarks are committed (only when
	// one advanced). Default: 1s.
	CommitInterval time.Duration `mapstructure:"commit_interval"`
	// MaxInflightRecords bounds, per partition, the records from the commit
	// watermark to the newest one handed on; at the bound the partition is
	// not fetched until the oldest ones are released. Default: 10000.
	MaxInflightRecords int `mapstructure:"max_inflight_records"`
	// MaxInflightBytes bounds the payload bytes of one signal's records that
	// stages still hold; at the bound no partition of the signal gets new
	// records. One record is always let through. Default: 67108864 (64 MiB).
	MaxInflightBytes int64 `mapstructure:"max_inflight_bytes"`
	// ErrorBackOff retries a record the pipeline refused with a retryable
	// error; the partition waits meanwhile. max_elapsed_time 0 retries for
	// ever; when it runs out, or with enabled: false, the record is skipped.
	// Default: enabled, 100ms initial, 5s max, max_elapsed_time 0.
	ErrorBackOff configretry.BackOffConfig `mapstructure:"error_backoff"`

	// TLS enables TLS to the brokers when present (insecure: true keeps
	// plaintext). Default: absent, plaintext.
	TLS configoptional.Optional[configtls.ClientConfig] `mapstructure:"tls"`
	// SASL authenticates to the brokers when present. Default: absent.
	SASL configoptional.Optional[SASLConfig] `mapstructure:"sasl"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TopicConfig names the topic of one signal.
type TopicConfig struct {
	// Topic carries OTLP protobuf (the kafka exporter's otlp_proto).
	Topic string `mapstructure:"topic"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SASLConfig authenticates to the brokers.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Required.
	Mechanism SASLMechanism `mapstructure:"mechanism"`
	// Username is required.
	Username string `mapstructure:"username"`
	// Password of Username.
	Password configopaque.String `mapstructure:"password"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// InitialOffset is where a group without a committed offset starts.
type InitialOffset string

const (
	// InitialOffsetLatest starts at the end: only records produced later.
	InitialOffsetLatest InitialOffset = "latest"
	// InitialOffsetEarliest starts at the oldest record retained.
	InitialOffsetEarliest InitialOffset = "earliest"
)

func (o InitialOffset) valid() bool {
	return o == InitialOffsetLatest || o == InitialOffsetEarliest
}

// UnmarshalText accepts latest or earliest.
func (o *InitialOffset) UnmarshalText(text []byte) error {
	if v := InitialOffset(text); v.valid() {
		*o = v
		return nil
	}
	return fmt.Errorf("'initial_offset' must be latest or earliest, not %q", text)
}

// SASLMechanism is a SASL mechanism franz-go implements.
type SASLMechanism string

const (
	// SASLMechanismPlain sends the password in clear: use it with TLS.
	SASLMechanismPlain SASLMechanism = "PLAIN"
	// SASLMechanismScramSHA256 is SCRAM with SHA-256.
	SASLMechanismScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	// SASLMechanismScramSHA512 is SCRAM with SHA-512.
	SASLMechanismScramSHA512 SASLMechanism = "SCRAM-SHA-512"
)

func (m SASLMechanism) valid() bool {
	return m == SASLMechanismPlain || m == SASLMechanismScramSHA256 || m == SASLMechanismScramSHA512
}

// UnmarshalText accepts the mechanisms franz-go implements.
func (m *SASLMechanism) UnmarshalText(text []byte) error {
	if v := SASLMechanism(text); v.valid() {
		*m = v
		return nil
	}
	return fmt.Errorf("'sasl.mechanism' must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q", text)
}

var (
	_ confmap.Validator = (*Config)(nil)
	_ confmap.Validator = (*SASLConfig)(nil)
)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(bad bool, msg string) {
		if bad {
			errs = append(errs, errors.New(msg))
		}
	}
	add(len(cfg.Brokers) == 0, "'brokers' must list at least one broker")
	for _, b := range cfg.Brokers {
		add(b == "", "'brokers' must not contain an empty address")
	}
	add(cfg.GroupID == "", "'group_id' must not be empty")
	add(!cfg.InitialOffset.valid(), "'initial_offset' must be latest or earliest")
	add(cfg.SessionTimeout <= 0, "'session_timeout' must be greater than 0")
	add(cfg.HeartbeatInterval <= 0 || cfg.HeartbeatInterval >= cfg.SessionTimeout,
		"'heartbeat_interval' must be greater than 0 and less than 'session_timeout'")
	errs = append(errs, validateTopics(cfg)...)
	add(cfg.MaxDepth < minMaxDepth || cfg.MaxDepth > maxMaxDepth,
		"'max_depth' must be between 16 and 10000 (an OTLP request alone nests about 8 levels)")
	add(cfg.CommitInterval <= 0, "'commit_interval' must be greater than 0")
	add(cfg.MaxInflightRecords <= 0, "'max_inflight_records' must be greater than 0")
	add(cfg.MaxInflightBytes <= 0, "'max_inflight_bytes' must be greater than 0")
	add(cfg.ErrorBackOff.Enabled && cfg.ErrorBackOff.InitialInterval <= 0,
		"'error_backoff.initial_interval' must be greater than 0")
	return errors.Join(errs...)
}

// validateTopics requires three distinct topics: one client per signal
// decodes everything of its topic as that signal.
func validateTopics(cfg *Config) []error {
	var errs []error
	seen := map[string]string{}
	for _, t := range []struct{ key, topic string }{
		{"traces.topic", cfg.Traces.Topic}, {"logs.topic", cfg.Logs.Topic}, {"metrics.topic", cfg.Metrics.Topic},
	} {
		if t.topic == "" {
			errs = append(errs, fmt.Errorf("'%s' must not be empty", t.key))
			continue
		}
		if other, ok := seen[t.topic]; ok {
			errs = append(errs, fmt.Errorf("'%s' and '%s' must name different topics", other, t.key))
		}
		seen[t.topic] = t.key
	}
	return errs
}

// Validate checks the SASL block when present.
func (s *SASLConfig) Validate() error {
	var errs []error
	if !s.Mechanism.valid() {
		errs = append(errs, errors.New("'sasl.mechanism' must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))
	}
	if s.Username == "" {
		errs = append(errs, errors.New("'sasl.username' must not be empty"))
	}
	return errors.Join(errs...)
}
