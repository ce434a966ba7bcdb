package bizdyeprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.Error(t, cfg.(*Config).Validate(), "the default config has no keys and must not validate")
}

// TestSharedInstance checks that a traces and a logs pipeline using one
// component id share one state, started and shut down once.
func TestSharedInstance(t *testing.T) {
	cfg := testConfig()
	set := processortest.NewNopSettings(metadata.Type)
	tp, err := NewFactory().CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	lp, err := NewFactory().CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.Same(t, tp.(*tracesProcessor).Unwrap(), lp.(*logsProcessor).Unwrap())
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, lp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, tp.Shutdown(context.Background()))
	require.NoError(t, lp.Shutdown(context.Background()))
	assert.Equal(t, 0, instances.Len())
}
