package goldentest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("checkout")
	s.SetTraceID([16]byte{1, 2, 3})
	s.Attributes().PutStr("biz.order_id", "ORD-1")
	require.NoError(t, WriteTraces(filepath.Join(dir, "t.yaml"), td))
	got, err := ReadTraces(filepath.Join(dir, "t.yaml"))
	require.NoError(t, err)
	require.Equal(t, td, got)

	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	require.NoError(t, WriteLogs(filepath.Join(dir, "l.yaml"), ld))
	gotLogs, err := ReadLogs(filepath.Join(dir, "l.yaml"))
	require.NoError(t, err)
	require.Equal(t, ld, gotLogs)

	_, err = ReadTraces(filepath.Join(dir, "missing.yaml"))
	require.Error(t, err)
}
