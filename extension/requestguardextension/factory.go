package requestguardextension // import "github.com/otelcol-biz/otelcol-biz/extension/requestguardextension"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-biz/otelcol-biz/extension/requestguardextension/internal/metadata"
)

// defaultMaxDepth leaves room for attribute values nested 40 levels (JSON)
// to 60 (protobuf) and costs the decoder a few hundred KiB of stack at most.
const defaultMaxDepth = 128

// defaultRetryAfter: long enough to let a memory_limiter or a full queue
// recover, short against an SDK's export timeout.
const defaultRetryAfter = time.Second

// NewFactory returns the request_guard extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{MaxDepth: defaultMaxDepth, RetryAfter: defaultRetryAfter}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newGuard(set.TelemetrySettings, cfg.(*Config))
}
