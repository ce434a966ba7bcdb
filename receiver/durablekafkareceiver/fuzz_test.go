package durablekafkareceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-biz/otelcol-biz/internal/nesting/nestingtest"
	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadata"
)

// FuzzDecodeRecord feeds arbitrary record values through the decode path
// of each signal (depth check, then pdata): it never panics, and whatever
// it refuses is an invalid record, never an error the receiver would retry.
func FuzzDecodeRecord(f *testing.F) {
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	metrics, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	require.NoError(f, err)
	for _, seed := range [][]byte{
		spanPayload(1), logPayload(1), metrics, {}, []byte("garbage"),
		spanPayload(1)[:10], nestingtest.DeepLogsRequest(200), nestingtest.DeepLogsRequest(40),
	} {
		f.Add(seed)
	}
	set := receivertest.NewNopSettings(metadata.Type)
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: set.ID, Transport: "kafka", ReceiverCreateSettings: set})
	require.NoError(f, err)
	handlers := []handler{
		tracesHandler{next: consumertest.NewNop(), obs: obs},
		logsHandler{next: consumertest.NewNop(), obs: obs},
		metricsHandler{next: consumertest.NewNop(), obs: obs},
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, h := range handlers {
			err := checkDepth(value, defaultMaxDepth)
			if err == nil {
				err = h.handle(context.Background(), value)
			}
			if err != nil && !isInvalid(err) {
				t.Fatalf("%T: %v is not an invalid record", h, err)
			}
		}
	})
}
