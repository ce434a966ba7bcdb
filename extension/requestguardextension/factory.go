package requestguardextension // import "github.com/otelcol-biz/otelcol-biz/extension/requestguardextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-biz/otelcol-biz/extension/requestguardextension/internal/metadata"
)

// defaultMaxDepth leaves room for attribute values nested 40 levels (JSON)
// to 60 (protobuf) and costs the decoder a few hundred KiB of stack at most.
const defaultMaxDepth = 128

// NewFactory returns the request_guard extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{MaxDepth: defaultMaxDepth}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newGuard(set.TelemetrySettings, cfg.(*Config))
}
