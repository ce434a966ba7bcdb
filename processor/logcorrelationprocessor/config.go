package logcorrelationprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor"

import (
	"errors"
	"fmt"
	"regexp"

	"go.opentelemetry.io/collector/confmap"
)

// ExtractorType is a built-in body extractor.
type ExtractorType string

const (
	// ExtractorTypeTraceparent finds a W3C traceparent "00-<32 hex>-<16 hex>-01".
	ExtractorTypeTraceparent ExtractorType = "traceparent"
	// ExtractorTypeKeyValue finds trace_id=... / traceId: ... key/value pairs (logfmt, log4j2 MDC).
	ExtractorTypeKeyValue ExtractorType = "key_value"
	// ExtractorTypeJSON finds "traceId"/"trace_id"/"trace.id" fields of JSON lines and map bodies.
	ExtractorTypeJSON ExtractorType = "json"
	// ExtractorTypeMDC finds ids in a bracketed MDC group: "[4bf9...]", "[app,<trace>,<span>]".
	ExtractorTypeMDC ExtractorType = "mdc"
)

// UnmarshalText validates the extractor name.
func (e *ExtractorType) UnmarshalText(text []byte) error {
	switch t := ExtractorType(text); t {
	case ExtractorTypeTraceparent, ExtractorTypeKeyValue, ExtractorTypeJSON, ExtractorTypeMDC:
		*e = t
		return nil
	}
	return fmt.Errorf("unknown extractor %q: use traceparent, key_value, json or mdc", text)
}

// Config defines configuration for the log_correlation processor.
type Config struct {
	// Extractors are the built-in body extractors, tried in this order.
	// Default: [traceparent, key_value, json, mdc].
	Extractors []ExtractorType `mapstructure:"extractors"`
	// Custom are extra patterns with named groups trace_id (required),
	// span_id and trace_flags, tried after the built-ins. Default: none.
	Custom []CustomConfig `mapstructure:"custom"`
	// Attributes are log attributes holding ids, tried before the body; a
	// name containing "span" holds a span id, any other a trace id.
	// Default: [trace_id, traceId, trace.id, span_id, spanId, span.id].
	Attributes []string `mapstructure:"attributes"`
	// Overwrite replaces a valid trace id the record already has. Default: false.
	Overwrite bool `mapstructure:"overwrite"`
	// RemoveFromBody deletes the text that carried the ids from a string body. Default: false.
	RemoveFromBody bool `mapstructure:"remove_from_body"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// CustomConfig is one extra pattern.
type CustomConfig struct {
	// Pattern is a Go regular expression with a (?P<trace_id>...) group.
	Pattern string `mapstructure:"pattern"`

	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	var errs error
	if len(cfg.Extractors) == 0 && len(cfg.Custom) == 0 && len(cfg.Attributes) == 0 {
		errs = errors.Join(errs, errors.New("'extractors', 'custom' and 'attributes' are all empty: nothing to correlate"))
	}
	seen := map[ExtractorType]bool{}
	for i, e := range cfg.Extractors {
		if seen[e] {
			errs = errors.Join(errs, fmt.Errorf("'extractors[%d]' %q is listed twice", i, e))
		}
		seen[e] = true
	}
	for i, c := range cfg.Custom {
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("'custom[%d].pattern': %w", i, err))
			continue
		}
		if re.SubexpIndex("trace_id") < 0 {
			errs = errors.Join(errs, fmt.Errorf("'custom[%d].pattern' %q has no named group (?P<trace_id>...)", i, c.Pattern))
		}
	}
	for i, a := range cfg.Attributes {
		if a == "" {
			errs = errors.Join(errs, fmt.Errorf("'attributes[%d]' must not be empty", i))
		}
	}
	return errs
}
