package nezha

import (
	"path/filepath"
	"runtime"
	"strings"
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

const traceHeader = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"

// spanRow is a trace CSV row with span id 00000000000000<id>.
func spanRow(id string) string {
	return "52429539bacb6d03b66aaeeb95819f36,00000000000000" + id + ",root,ts-a-service-5d-x1,GET /a,1674987145284000000,1674987145324091243,40091"
}

func TestReadTracesDirty(t *testing.T) {
	t.Parallel()
	a, b := spanRow("0a"), spanRow("0b")
	for _, tc := range []struct {
		name, body string
		kept       []string // span ids
		skips      Skips
	}{
		{"clean", a + "\n" + b + "\n", []string{"0a", "0b"}, Skips{}},
		{"quote error", strings.Replace(a, "GET /a", `"GET /a`, 1) + "\n" + b + "\n", []string{"0b"}, Skips{Quote: 1}},
		{"cut short", a[:len(a)-20] + "\n" + b + "\n", []string{"0b"}, Skips{Fields: 1}},
		{"cut short at the end", a + "\n" + b[:len(b)-20], []string{"0a"}, Skips{Fields: 1}},
		{"two rows fused", a[:len(a)-20] + b + "\n" + spanRow("0c"), []string{"0c"}, Skips{Fields: 1}},
		{"fused inside the trace id", "5242" + a + "\n" + b, []string{"0b"}, Skips{Value: 1}},
		{"bad number", strings.Replace(a, ",40091", ",4e4", 1) + "\n" + strings.Replace(b, "1674987145284000000", "", 1) + "\n" + spanRow("0c"),
			[]string{"0c"}, Skips{Value: 2}},
		{"bad span id", strings.Replace(a, "000000000000000a", "00000000000000zz", 1) + "\n" + b, []string{"0b"}, Skips{Value: 1}},
		{"not utf-8", strings.Replace(a, "GET /a", "GET /\xe9", 1) + "\n" + b, []string{"0b"}, Skips{UTF8: 1}},
		{"every kind", strings.Join([]string{a[:30], `"x` + b, "\xff" + b, b + "," + b, spanRow("0d")}, "\n"),
			[]string{"0d"}, Skips{Fields: 2, Quote: 1, UTF8: 1}},
		{"header only", "", nil, Skips{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kept []string
			skips, err := ReadTraces(strings.NewReader(traceHeader+tc.body), func(s Span) {
				kept = append(kept, s.SpanID[14:])
				assert.Equal(t, "ts-a-service-5d-x1", s.Pod)
				assert.Equal(t, int64(40091), s.DurationMicros)
			})
			require.NoError(t, err)
			assert.Equal(t, tc.kept, kept)
			assert.Equal(t, tc.skips, skips)
		})
	}
	skips, err := ReadTraces(strings.NewReader(""), func(Span) { t.Error("a span from an empty file") })
	assert.NoError(t, err, "an empty file has no rows")
	assert.Zero(t, skips)
	_, err = ReadTraces(strings.NewReader("TraceID,SpanID\n"+spanRow("0a")), func(Span) {})
	assert.ErrorContains(t, err, "no column ParentID")
}

func TestReadTracesFields(t *testing.T) {
	t.Parallel()
	var got []Span
	_, err := ReadTraces(strings.NewReader("Duration,TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Extra\n"+
		`5,52429539bacb6d03b66aaeeb95819f36,00000000000000AB,e90c10400d1ecefc,ts-b-service-1-2,"POST /b, c",10,15,x`), func(s Span) { got = append(got, s) })
	require.NoError(t, err)
	assert.Equal(t, []Span{{
		TraceID: "52429539bacb6d03b66aaeeb95819f36", SpanID: "00000000000000AB", ParentID: "e90c10400d1ecefc",
		Pod: "ts-b-service-1-2", Operation: "POST /b, c", StartNano: 10, EndNano: 15, DurationMicros: 5,
	}}, got)
}
