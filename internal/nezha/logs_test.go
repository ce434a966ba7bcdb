package nezha

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitLogText(t *testing.T) {
	for _, tc := range []struct{ text, level, logger, msg string }{
		{"18:12:22.929 WARN  v.s.i.VerifyCodeServiceImpl#114 TraceID: 0bba15a1e6250480f2a5a830480a08f6 SpanID: b8ce114fac4f4e3d [verifyCode][Verify code start]",
			"WARN", "v.s.i.VerifyCodeServiceImpl#114", "[verifyCode][Verify code start]"},
		{"17:20:29.299 ERROR o.a.c.c.C.[.[.[.[dispatcherServlet]#175 TraceID: e8a3 SpanID: dea0 Servlet.service() threw",
			"ERROR", "o.a.c.c.C.[.[.[.[dispatcherServlet]#175", "Servlet.service() threw"},
		{"18:12:22.929 INFO  c.Foo#1 TraceID:  SpanID:  started", "INFO", "c.Foo#1", "started"},
		{"2023-01-29 18:12:22.929 [WARNING] disk low", "WARN", "", "disk low"},
		{"ERROR: boom", "ERROR", "", "boom"},
		{"Started application in 3.2 seconds", "", "", "Started application in 3.2 seconds"},
		{"", "", "", ""},
	} {
		level, logger, msg := splitLogText(tc.text)
		assert.Equal(t, []string{tc.level, tc.logger, tc.msg}, []string{level, logger, msg}, tc.text)
	}
}

func TestDockerLog(t *testing.T) {
	for _, tc := range []struct {
		cell, text, ts string
		ok             bool
	}{
		{`{"log":"18:12:22.929 INFO  x#1 hi\n","stream":"stdout","time":"2023-01-29T10:12:22.929874503Z"}`,
			"18:12:22.929 INFO  x#1 hi", "2023-01-29T10:12:22.929874503Z", true},
		{`{"log":"a \"quoted\" \u00e9 text\n","stream":"stdout","time":"T"}`, `a "quoted" é text`, "T", true},
		{`{"stream":"stdout","log":"reordered\n","time":"T"}`, "reordered", "T", true},
		{`{"log":"no end`, `{"log":"no end`, "", false},
		{`plain text line`, `plain text line`, "", false},
		{`{"msg":"other json"}`, `{"msg":"other json"}`, "", false},
	} {
		text, ts, ok := dockerLog(tc.cell)
		assert.Equal(t, tc.text, text, tc.cell)
		assert.Equal(t, tc.ts, ts, tc.cell)
		assert.Equal(t, tc.ok, ok, tc.cell)
	}
	cell := `{"log":"18:12:22.929 INFO  v.c.VerifyCodeController#54 TraceID: 0bba15a1e6250480f2a5a830480a08f6 SpanID: b8ce114fac4f4e3d [verifyCode][verify result: false]\n","stream":"stdout","time":"2023-01-29T10:12:22.929874503Z"}`
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		text, _, _ := dockerLog(cell)
		splitLogText(text)
	}), "the common line shape is sliced, not copied")
}

func TestReadLogFile(t *testing.T) {
	dir := dataDir(t)
	path := filepath.Join(dir, "rca_data", "2023-01-29", "log", "10_13_log.csv")
	levels := map[string]int{}
	lines := 0
	require.NoError(t, ReadLogFile(path, func(l LogLine) {
		lines++
		levels[l.Level]++
		assert.NotEmpty(t, l.Pod)
		assert.Equal(t, ServiceOf(l.Pod), l.Service)
		assert.Len(t, l.TraceID, 32)
		assert.Len(t, l.SpanID, 16)
		assert.Contains(t, l.Logger, "#")
		assert.NotContains(t, l.Message, "TraceID:")
		assert.NotContains(t, l.Message, "\n")
		// 10:12:08..10:13:09 UTC
		assert.InDelta(t, int64(1674987158e9), l.TimeNano, 61e9)
	}))
	assert.Equal(t, 1938, lines, "python csv agrees")
	assert.Equal(t, map[string]int{"INFO": 1849, "WARN": 84, "ERROR": 5}, levels)
}

// 09_21_log.csv has 16 ERROR rows whose TimeUnixNano is -6795364578871345152;
// their time comes from the JSON "time".
func TestReadLogFileBadTimes(t *testing.T) {
	path := filepath.Join(dataDir(t), "rca_data", "2023-01-29", "log", "09_21_log.csv")
	const minute = int64(1674984060e9) // 09:21:00 UTC
	n := 0
	require.NoError(t, ReadLogFile(path, func(l LogLine) {
		n++
		assert.InDelta(t, minute, l.TimeNano, 120e9)
	}))
	assert.Positive(t, n)
}

// In the fault windows of the "exception" cases, ERROR lines carry the trace
// context that marks spans as failed.
func TestErrorLogsInExceptionCases(t *testing.T) {
	dir := dataDir(t)
	faults, err := Faults(dir, "2023-01-29")
	require.NoError(t, err)
	cases, withErrors, errorLines := 0, 0, 0
	for _, f := range faults {
		if f.Type != "exception" {
			continue
		}
		cases++
		files, err := WindowFiles(dir, "rca_data", f.Day, "log", f.InjectTime, f.End())
		require.NoError(t, err)
		from, to := f.InjectTime.UnixNano(), f.End().UnixNano()
		seen := map[[2]string]bool{}
		for _, path := range files {
			require.NoError(t, ReadLogFile(path, func(l LogLine) {
				if l.Level == "ERROR" && l.TraceID != "" && l.TimeNano >= from && l.TimeNano < to {
					seen[[2]string{l.TraceID, l.SpanID}] = true
				}
			}))
		}
		if len(seen) > 0 {
			withErrors++
		}
		errorLines += len(seen)
	}
	assert.Equal(t, 9, cases)
	assert.Equal(t, cases, withErrors, "every exception case has traced ERROR lines")
	assert.Greater(t, errorLines, 100)
}

func BenchmarkReadLogFile(b *testing.B) {
	path := filepath.Join(dataDir(b), "rca_data", "2023-01-29", "log", "10_13_log.csv")
	b.ReportAllocs()
	for b.Loop() {
		errors := 0
		if err := ReadLogFile(path, func(l LogLine) {
			if l.Level == "ERROR" {
				errors++
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
}
