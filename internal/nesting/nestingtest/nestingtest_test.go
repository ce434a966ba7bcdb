package nestingtest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDeepLogsRequestDecodes: at a depth the decoder survives, the payload
// is the OTLP request it claims to be.
func TestDeepLogsRequestDecodes(t *testing.T) {
	req := plogotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalProto(DeepLogsRequest(3)))
	body := req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body()
	require.Equal(t, `[[["x"]]]`, body.AsString())

	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(DeepJSON(3))
	require.NoError(t, err)
	require.Equal(t, `[[["x"]]]`, ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().AsString())
}
