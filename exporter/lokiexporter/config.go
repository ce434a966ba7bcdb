package lokiexporter // import "github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// EncodingType is the push request's body format.
type EncodingType string

const (
	// EncodingTypeProtobuf is snappy-compressed protobuf (Loki's native push format).
	EncodingTypeProtobuf EncodingType = "protobuf"
	// EncodingTypeJSON is Loki's JSON push format.
	EncodingTypeJSON EncodingType = "json"
)

// UnmarshalText validates the encoding name.
func (e *EncodingType) UnmarshalText(text []byte) error {
	switch t := EncodingType(text); t {
	case EncodingTypeProtobuf, EncodingTypeJSON:
		*e = t
		return nil
	}
	return fmt.Errorf("unknown encoding %q: use protobuf or json", text)
}

// Config defines configuration for the loki exporter.
type Config struct {
	// ClientConfig: `endpoint` is the push URL, e.g.
	// http://127.0.0.1:3100/loki/api/v1/push (required); headers, timeout
	// (default 30s), TLS as in every HTTP exporter.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"` // squash: the flat keys every HTTP exporter has
	// QueueConfig is exporterhelper's sending queue. Default: enabled.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig retries 429 and 5xx answers. Default: enabled.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// TenantID is sent as X-Scope-OrgID. Default: "" (none).
	TenantID string `mapstructure:"tenant_id"`
	// Encoding of the push body: protobuf (snappy) or json. Default: protobuf.
	Encoding EncodingType `mapstructure:"encoding"`
	// Labels: the allowlist of attributes that become stream labels.
	Labels LabelsConfig `mapstructure:"labels"`
	// StructuredMetadata: what travels with each line without being a label.
	StructuredMetadata StructuredMetadataConfig `mapstructure:"structured_metadata"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// LabelsConfig maps attribute names to Loki label names.
type LabelsConfig struct {
	// Resource attributes that become labels. Default: {service.name: service_name}.
	Resource map[string]string `mapstructure:"resource"`
	// Attributes: log record attributes that become labels. Default: none.
	Attributes map[string]string `mapstructure:"attributes"`
	// Severity, if set, is the label carrying the record's severity text
	// (or its severity number's name). Default: "" (none).
	Severity string `mapstructure:"severity"`

	_ struct{}
}

// StructuredMetadataConfig selects the per-line structured metadata. Names
// are sanitised as Loki's OTLP endpoint does (biz.order_id -> biz_order_id),
// so queries are the same whichever way the logs arrived.
type StructuredMetadataConfig struct {
	// TraceContext sends trace_id and span_id (hex). Default: true.
	TraceContext bool `mapstructure:"trace_context"`
	// AttributePrefixes: log attributes with these prefixes. Default: ["biz."].
	AttributePrefixes []string `mapstructure:"attribute_prefixes"`
	// Attributes: more log attributes by name. Default: none.
	Attributes []string `mapstructure:"attributes"`
	// ResourceAttributes: resource attributes too costly as labels (pod
	// names, instance ids). Default: none.
	ResourceAttributes []string `mapstructure:"resource_attributes"`

	_ struct{}
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	var errs error
	if cfg.ClientConfig.Endpoint == "" {
		errs = errors.Join(errs, errors.New("'endpoint' must be set, e.g. http://127.0.0.1:3100/loki/api/v1/push"))
	}
	if len(cfg.Labels.Resource) == 0 && len(cfg.Labels.Attributes) == 0 && cfg.Labels.Severity == "" {
		errs = errors.Join(errs, errors.New("'labels' must map at least one attribute to a label: Loki needs a stream label"))
	}
	used := map[string]string{}
	check := func(key, attr, label string) {
		if !labelName.MatchString(label) {
			errs = errors.Join(errs, fmt.Errorf("'%s' maps %q to %q, which is not a valid Loki label name ([a-zA-Z_][a-zA-Z0-9_]*)", key, attr, label))
		}
		if prev, ok := used[label]; ok {
			errs = errors.Join(errs, fmt.Errorf("'%s': label %q is also produced by %s", key, label, prev))
		}
		used[label] = key + "." + attr
		if attr == "trace_id" || attr == "span_id" || cfg.isMetadataAttribute(attr) {
			errs = errors.Join(errs, fmt.Errorf("'%s': %q is per-trace (unbounded cardinality): it travels as structured metadata, never as a label", key, attr))
		}
	}
	for attr, label := range cfg.Labels.Resource {
		check("labels.resource", attr, label)
	}
	for attr, label := range cfg.Labels.Attributes {
		check("labels.attributes", attr, label)
	}
	if cfg.Labels.Severity != "" {
		check("labels.severity", "severity", cfg.Labels.Severity)
	}
	for i, p := range cfg.StructuredMetadata.AttributePrefixes {
		if p == "" {
			errs = errors.Join(errs, fmt.Errorf("'structured_metadata.attribute_prefixes[%d]' must not be empty (that would send every attribute)", i))
		}
	}
	return errs
}

func (cfg *Config) isMetadataAttribute(attr string) bool {
	for _, p := range cfg.StructuredMetadata.AttributePrefixes {
		if p != "" && strings.HasPrefix(attr, p) {
			return true
		}
	}
	return false
}
