package logcorrelationprocessor

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
)

func fuzzSeeds(f *testing.F) {
	for _, l := range lines {
		f.Add(l.body)
	}
	f.Add("00-" + w3cTrace + "-" + w3cSpan)
	f.Add("[" + w3cTrace)
	f.Add(`"traceId"  :  '` + w3cTrace)
}

// checkMatch: an accepted id is valid (not all-zero) and its text is in the line.
func checkMatch(t *testing.T, s string, m match, ok bool) {
	if !ok {
		return
	}
	require.False(t, m.traceID.IsEmpty(), "all-zero trace id accepted from %q", s)
	require.True(t, m.start >= 0 && m.start <= m.end && m.end <= len(s), "bad region %d..%d in %q", m.start, m.end, s)
	tid := m.traceID.String()
	region := strings.ToLower(s[m.start:m.end])
	require.True(t, strings.Contains(region, tid) || strings.Contains(region, tid[16:]), "trace id %s not in %q", tid, region)
	if m.hasSpan {
		require.False(t, m.spanID.IsEmpty())
		require.Contains(t, strings.ToLower(s), m.spanID.String())
	}
}

func FuzzTraceparent(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		m, ok, _ := findTraceparent(s)
		checkMatch(t, s, m, ok)
	})
}

func FuzzKeyValue(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		m, ok, _ := findKeyedIDs(s, false)
		checkMatch(t, s, m, ok)
	})
}

func FuzzJSON(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		m, ok, _ := findKeyedIDs(s, true)
		checkMatch(t, s, m, ok)
	})
}

func FuzzMDC(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		m, ok, _ := findMDC(s)
		checkMatch(t, s, m, ok)
	})
}

// FuzzProcessLogs runs arbitrary OTLP through the whole processor with
// remove_from_body on: nothing panics and no record is lost.
func FuzzProcessLogs(f *testing.F) {
	for _, l := range lines {
		ld := plog.NewLogs()
		record(ld, l.body, l.mapBody, l.attrs)
		b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		require.NoError(f, err)
		f.Add(b)
	}
	cfg := testConfig()
	cfg.RemoveFromBody, cfg.Overwrite = true, true
	c, err := newCorrelator(componenttest.NewNopTelemetrySettings(), cfg)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		if err != nil {
			t.Skip()
		}
		n := ld.LogRecordCount()
		out, err := c.processLogs(t.Context(), ld)
		require.NoError(t, err)
		require.Equal(t, n, out.LogRecordCount())
	})
}
