package requestguardextension // import "github.com/otelcol-biz/otelcol-biz/extension/requestguardextension"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// maxMaxDepth keeps the check's own recursion (one small frame per level)
// and the decoder's far from the stack limit.
const maxMaxDepth = 10000

// Config defines configuration for the request_guard extension.
type Config struct {
	// MaxDepth is the deepest nesting a request body may have: protobuf
	// messages inside messages, or JSON objects and arrays inside each other.
	// An OTLP request needs about 8 levels plus 2 per level of nested
	// attribute values (protobuf) or 3 (JSON). Default: 128.
	MaxDepth int `mapstructure:"max_depth"`
	// RetryAfter is added to retryable refusals that carry no delay of their
	// own (HTTP 429/503 get a Retry-After header, gRPC UNAVAILABLE and
	// RESOURCE_EXHAUSTED a RetryInfo), so clients back off instead of
	// retrying at once. 0 adds nothing. Default: 1s.
	RetryAfter time.Duration `mapstructure:"retry_after"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	if cfg.MaxDepth < 16 || cfg.MaxDepth > maxMaxDepth {
		return errors.New("'max_depth' must be between 16 and 10000 (an OTLP request alone nests about 8 levels)")
	}
	if cfg.RetryAfter < 0 || cfg.RetryAfter > time.Hour {
		return errors.New("'retry_after' must be between 0 and 1h")
	}
	return nil
}
