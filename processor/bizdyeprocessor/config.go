package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
)

// Config defines configuration for the biz_dye processor.
type Config struct {
	// Keys are the business keys to find and propagate. Required.
	Keys []KeyConfig `mapstructure:"keys"`
	// Prefix is prepended to a key's name to form the output attribute. Default: "biz.".
	Prefix string `mapstructure:"prefix"`
	// HashSalt salts the SHA-256 of keys configured with `hash: true`. Default: "".
	HashSalt configopaque.String `mapstructure:"hash_salt"`
	// Wait is the longest time spans and logs of a not-yet-dyed trace are held. Default: 2s.
	Wait time.Duration `mapstructure:"wait"`
	// MaxBufferedSpans bounds the hold buffer; when full, the oldest held
	// traces are released early (counted). Default: 200000.
	MaxBufferedSpans int `mapstructure:"max_buffered_spans"`
	// MaxBufferedLogs bounds the logs held with their trace. Default: 100000.
	MaxBufferedLogs int `mapstructure:"max_buffered_logs"`
	// MaxTraces bounds the registry (trace id -> keys); least recently seen
	// traces are evicted beyond it (counted). Default: 1000000.
	MaxTraces int `mapstructure:"max_traces"`
	// TTL is how long a trace's keys are remembered after its last span. Default: 10m.
	TTL time.Duration `mapstructure:"ttl"`
	// MaxValuesPerKey bounds the distinct values kept per key and trace. Default: 8.
	MaxValuesPerKey int `mapstructure:"max_values_per_key"`
	// MaxValueLength truncates longer values (bytes). Default: 128.
	MaxValueLength int `mapstructure:"max_value_length"`
	// LinkAsync links traces that one business flow was split into by a lost
	// async context. Default: true.
	LinkAsync bool `mapstructure:"link_async"`
	// MaxAsyncProducers bounds the index of PRODUCER/CLIENT spans by key value
	// used by link_async (LRU). Default: 100000.
	MaxAsyncProducers int `mapstructure:"max_async_producers"`
	// MaxPendingParents bounds the spans waiting for their parent for orphan
	// detection (FIFO; overflow is counted, not reported as orphans). Default: 100000.
	MaxPendingParents int `mapstructure:"max_pending_parents"`
	// MaxServices bounds the service names used as metric attributes; others
	// are reported as "_other". Default: 256.
	MaxServices int `mapstructure:"max_services"`
	// Keep flags traces for tail sampling.
	Keep KeepConfig `mapstructure:"keep"`
	// Storage is a storage extension (file_storage) where the registry is
	// saved at shutdown and loaded at start, so a restart keeps the keys of
	// recent traces. Default: none (state is lost on restart).
	Storage *component.ID `mapstructure:"storage"`
	// SnapshotInterval is how often the registry is saved to `storage` while
	// running, so that a crash (kill -9) loses at most this much of it. 0
	// saves only at shutdown. Default: 30s.
	SnapshotInterval time.Duration `mapstructure:"snapshot_interval"`
	// Sampling, when present, decides per trace whether its spans go on
	// (keep rules, errors, slow traces, a share of the rest), in the hold:
	// the gateway's tail sampling without a second buffer of every trace.
	// Logs are never sampled. Default: off.
	Sampling configoptional.Optional[SamplingConfig] `mapstructure:"sampling"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SamplingConfig is the trace sampling decision biz_dye makes when a
// trace's hold ends. A trace is kept when any rule matches.
type SamplingConfig struct {
	// DecisionWait is how long every span of a trace is held, from its first
	// span, before the decision (at least `wait`). Default: 10s.
	DecisionWait time.Duration `mapstructure:"decision_wait"`
	// KeepErrors keeps traces with a span whose status is ERROR. Default: true.
	KeepErrors bool `mapstructure:"keep_errors"`
	// SlowThreshold keeps traces whose held spans cover at least this long
	// (earliest start to latest end); 0 disables the rule. Default: 1s.
	SlowThreshold time.Duration `mapstructure:"slow_threshold"`
	// Percentage of the other traces kept, chosen by trace id (the same
	// traces on every replica). Default: 10.
	Percentage float64 `mapstructure:"percentage"`

	_ struct{}
}

// KeyConfig is one business key.
type KeyConfig struct {
	// Name of the key; the output attribute is <prefix><name>. Required.
	Name string `mapstructure:"name"`
	// From lists where the key's value is found, tried in order. Required.
	From []SourceConfig `mapstructure:"from"`
	// Hash replaces the value by its salted SHA-256 hex (PII). Default: false.
	Hash bool `mapstructure:"hash"`
	// DropSource removes the attribute the value was read from (attribute,
	// header and regex sources), so a hashed value does not ship in clear
	// beside its hash. Default: false.
	DropSource bool `mapstructure:"drop_source"`

	_ struct{}
}

// SourceConfig is one place a key's value is found. Exactly one field is set.
type SourceConfig struct {
	// Attribute is a span, log or resource attribute name.
	Attribute string `mapstructure:"attribute"`
	// Header is an HTTP request header: the semconv attribute http.request.header.<header>.
	Header string `mapstructure:"header"`
	// Baggage is a W3C baggage member, read from a `baggage` attribute or the
	// http.request.header.baggage attribute.
	Baggage string `mapstructure:"baggage"`
	// URLPath is a template such as "/api/orders/{value}" matched against
	// url.path, http.target and http.route.
	URLPath string `mapstructure:"url_path"`
	// Regex applies a pattern with a named group `value` to an attribute.
	Regex *RegexSourceConfig `mapstructure:"regex"`
	// LogBody applies a pattern with a named group `value` to a log body (logs only).
	LogBody string `mapstructure:"log_body"`

	_ struct{}
}

// RegexSourceConfig is a regex source.
type RegexSourceConfig struct {
	// Attribute whose string value the pattern is applied to. Required.
	Attribute string `mapstructure:"attribute"`
	// Pattern with a named group `value`. Required.
	Pattern string `mapstructure:"pattern"`

	_ struct{}
}

// KeepConfig flags traces for tail sampling.
type KeepConfig struct {
	// Attribute set to true on every span of a matching trace. Default: "biz.keep".
	Attribute string `mapstructure:"attribute"`
	// When lists the rules; a trace matching any of them is kept.
	When []KeepRuleConfig `mapstructure:"when"`

	_ struct{}
}

// KeepRuleConfig matches a trace whose key has a value.
type KeepRuleConfig struct {
	// Key is the name of one of the configured keys.
	Key string `mapstructure:"key"`
	// Equals is the value the key must have (before hashing).
	Equals string `mapstructure:"equals"`

	_ struct{}
}

// maxKeys is bounded by the one-byte key index of the compact dye encoding.
const maxKeys = 250

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; every message names its YAML key.
func (cfg *Config) Validate() error {
	var errs error
	if len(cfg.Keys) == 0 {
		errs = errors.Join(errs, errors.New("'keys' must list at least one key"))
	}
	if len(cfg.Keys) > maxKeys {
		errs = errors.Join(errs, fmt.Errorf("'keys' must list at most %d keys", maxKeys))
	}
	names := map[string]bool{}
	for i, k := range cfg.Keys {
		if k.Name == "" {
			errs = errors.Join(errs, fmt.Errorf("'keys[%d].name' must not be empty", i))
		} else if names[k.Name] {
			errs = errors.Join(errs, fmt.Errorf("'keys[%d].name' %q is listed twice", i, k.Name))
		}
		names[k.Name] = true
		if len(k.From) == 0 {
			errs = errors.Join(errs, fmt.Errorf("'keys[%d].from' (%s) must list at least one source", i, k.Name))
		}
		for j, src := range k.From {
			if err := src.validate(); err != nil {
				errs = errors.Join(errs, fmt.Errorf("'keys[%d].from[%d]' (%s): %w", i, j, k.Name, err))
			}
			if k.DropSource && (src.Baggage != "" || src.URLPath != "" || src.LogBody != "") {
				errs = errors.Join(errs, fmt.Errorf("'keys[%d].drop_source' (%s): 'from[%d]' is a baggage, url_path or log_body source, whose value would stay in clear; "+
					"drop_source removes attribute, header and regex sources only", i, k.Name, j))
			}
		}
	}
	for _, b := range []struct {
		key string
		v   int64
	}{
		{"wait", int64(cfg.Wait)},
		{"ttl", int64(cfg.TTL)},
		{"max_buffered_spans", int64(cfg.MaxBufferedSpans)},
		{"max_buffered_logs", int64(cfg.MaxBufferedLogs)},
		{"max_traces", int64(cfg.MaxTraces)},
		{"max_values_per_key", int64(cfg.MaxValuesPerKey)},
		{"max_value_length", int64(cfg.MaxValueLength)},
		{"max_async_producers", int64(cfg.MaxAsyncProducers)},
		{"max_pending_parents", int64(cfg.MaxPendingParents)},
		{"max_services", int64(cfg.MaxServices)},
	} {
		if b.v <= 0 {
			errs = errors.Join(errs, fmt.Errorf("'%s' must be greater than 0", b.key))
		}
	}
	if cfg.SnapshotInterval < 0 {
		errs = errors.Join(errs, errors.New("'snapshot_interval' must not be negative"))
	}
	if sc := cfg.Sampling.Get(); sc != nil {
		errs = errors.Join(errs, sc.validate(cfg.Wait))
	}
	if cfg.MaxValueLength > 4096 {
		errs = errors.Join(errs, errors.New("'max_value_length' must be at most 4096"))
	}
	if cfg.MaxValuesPerKey > 64 {
		errs = errors.Join(errs, errors.New("'max_values_per_key' must be at most 64"))
	}
	if cfg.MaxPendingParents > 1_000_000 {
		errs = errors.Join(errs, errors.New("'max_pending_parents' must be at most 1000000 (its seen-span table is 8 slots of 8 bytes per pending parent)"))
	}
	if cfg.MaxTraces > 1<<30 {
		errs = errors.Join(errs, errors.New("'max_traces' must be at most 1073741824"))
	}
	if len(cfg.Keep.When) > 0 && cfg.Keep.Attribute == "" {
		errs = errors.Join(errs, errors.New("'keep.attribute' must not be empty when 'keep.when' is set"))
	}
	for i, r := range cfg.Keep.When {
		if !names[r.Key] {
			errs = errors.Join(errs, fmt.Errorf("'keep.when[%d].key' %q is not one of the configured 'keys'", i, r.Key))
		}
		if r.Equals == "" {
			errs = errors.Join(errs, fmt.Errorf("'keep.when[%d].equals' must not be empty", i))
		}
	}
	return errs
}

func (sc *SamplingConfig) validate(wait time.Duration) error {
	var errs error
	if sc.DecisionWait < wait {
		errs = errors.Join(errs, fmt.Errorf("'sampling.decision_wait' (%s) must be at least 'wait' (%s)", sc.DecisionWait, wait))
	}
	if sc.SlowThreshold < 0 {
		errs = errors.Join(errs, errors.New("'sampling.slow_threshold' must not be negative"))
	}
	if sc.Percentage < 0 || sc.Percentage > 100 || math.IsNaN(sc.Percentage) {
		errs = errors.Join(errs, fmt.Errorf("'sampling.percentage' must be between 0 and 100, got %v", sc.Percentage))
	}
	return errs
}

func (s SourceConfig) validate() error {
	set := 0
	for _, v := range []bool{s.Attribute != "", s.Header != "", s.Baggage != "", s.URLPath != "", s.Regex != nil, s.LogBody != ""} {
		if v {
			set++
		}
	}
	if set != 1 {
		return errors.New("exactly one of 'attribute', 'header', 'baggage', 'url_path', 'regex', 'log_body' must be set")
	}
	switch {
	case s.URLPath != "":
		if _, err := parseURLTemplate(s.URLPath); err != nil {
			return fmt.Errorf("'url_path': %w", err)
		}
	case s.Regex != nil:
		if s.Regex.Attribute == "" {
			return errors.New("'regex.attribute' must not be empty")
		}
		if err := validateValuePattern(s.Regex.Pattern); err != nil {
			return fmt.Errorf("'regex.pattern': %w", err)
		}
	case s.LogBody != "":
		if err := validateValuePattern(s.LogBody); err != nil {
			return fmt.Errorf("'log_body': %w", err)
		}
	}
	return nil
}

func validateValuePattern(p string) error {
	re, err := regexp.Compile(p)
	if err != nil {
		return err
	}
	if re.SubexpIndex("value") < 0 {
		return fmt.Errorf("pattern %q has no named group (?P<value>...)", p)
	}
	return nil
}

// parseURLTemplate splits "/api/orders/{value}/items" into path segments;
// exactly one segment is "{value}", "*" and other "{name}" segments match any
// single segment.
func parseURLTemplate(t string) ([]string, error) {
	if !strings.HasPrefix(t, "/") {
		return nil, fmt.Errorf("template %q must start with '/'", t)
	}
	segs := strings.Split(strings.TrimPrefix(t, "/"), "/")
	n := 0
	for _, s := range segs {
		if s == "{value}" {
			n++
		} else if strings.Contains(s, "{value}") {
			return nil, fmt.Errorf("template %q: {value} must be a whole path segment", t)
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("template %q must contain {value} exactly once", t)
	}
	return segs, nil
}
