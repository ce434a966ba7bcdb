package nezha

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestServiceOf(t *testing.T) {
	assert.Equal(t, "ts-order-service", ServiceOf("ts-order-service-5b67c48447-mv5hb"))
	assert.Equal(t, "front", ServiceOf("front"))
}

func TestReadConstructData(t *testing.T) {
	dir, err := Dir(repoRoot())
	require.NoError(t, err)
	files, err := TraceFiles(dir, "construct_data", "2023-01-29")
	require.NoError(t, err)
	spans, roots := 0, 0
	require.NoError(t, ReadTraceFile(files[0], func(s Span) {
		spans++
		if s.ParentID == "root" {
			roots++
		}
		assert.GreaterOrEqual(t, s.EndNano, s.StartNano)
		assert.NotEmpty(t, s.Service())
	}))
	assert.Equal(t, 4890, spans, "08_50_trace.csv has 4890 rows (python csv agrees)")
	assert.Positive(t, roots)
}
