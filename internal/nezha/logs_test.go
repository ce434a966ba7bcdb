package nezha

import (
	"path/filepath"
	"strings"
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

func TestDockerLine(t *testing.T) {
	for _, tc := range []struct {
		cell, text, ts string
		ok             bool
	}{
		{`{"log":"18:12:22.929 INFO  x#1 hi\n","stream":"stdout","time":"2023-01-29T10:12:22.929874503Z"}`,
			"18:12:22.929 INFO  x#1 hi", "2023-01-29T10:12:22.929874503Z", true},
		{`{"log":"a \"quoted\" \u00e9 text\n","stream":"stderr","time":"T"}`, `a "quoted" é text`, "T", true},
		{`{"log":"no newline","stream":"stdout","time":"T"}`, "no newline", "T", true},
		// other shapes take the slow path
		{`{"stream":"stdout","log":"reordered\n","time":"T"}`, "", "", false},
		{`{"log":"x\n","stream":"stdout","time":"T","level":"error"}`, "", "", false},
		{`{"log":"bad \x escape","stream":"stdout","time":"T"}`, "", "", false},
		{`{"log":"no end`, "", "", false},
		{`plain text line`, "", "", false},
	} {
		text, ts, ok := dockerLine(tc.cell)
		assert.Equal(t, tc.text, text, tc.cell)
		assert.Equal(t, tc.ts, ts, tc.cell)
		assert.Equal(t, tc.ok, ok, tc.cell)
	}
	cell := `{"log":"18:12:22.929 INFO  v.c.VerifyCodeController#54 TraceID: 0bba15a1e6250480f2a5a830480a08f6 SpanID: b8ce114fac4f4e3d [verifyCode][verify result: false]\n","stream":"stdout","time":"2023-01-29T10:12:22.929874503Z"}`
	assert.Zero(t, testing.AllocsPerRun(100, func() { parseLogCell(cell) }),
		"the common line shape is sliced, not copied")
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

const logHeader = "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log\n"

// logRow is a log CSV row whose Log cell is the runtime line around text.
func logRow(nano, text string) string {
	cell := `{"log":"` + text + `\n","stream":"stdout","time":"2023-01-29T10:12:22.000000001Z"}`
	return "2023-01-29 10:12:22.929," + nano + ",node1,ts-a-service-5d-x1,c,0bba15a1e6250480f2a5a830480a08f6,b8ce114fac4f4e3d," +
		`"` + strings.ReplaceAll(cell, `"`, `""`) + `"`
}

func TestReadLogsDirty(t *testing.T) {
	t.Parallel()
	const nano = "1674987142929874503"
	a, b := logRow(nano, "18:12:22.929 ERROR a.B#1 TraceID: x SpanID: y boom"), logRow(nano, "18:12:22.930 INFO  a.B#2 ok")
	type kept struct {
		at             int64
		level, message string
	}
	ka, kb := kept{1674987142929874503, "ERROR", "boom"}, kept{1674987142929874503, "INFO", "ok"}
	for _, tc := range []struct {
		name, body string
		kept       []kept
		skips      Skips
	}{
		{"clean", a + "\n" + b + "\n", []kept{ka, kb}, Skips{}},
		{"quote left open", a[:len(a)-30] + "\n" + b, []kept{kb}, Skips{Quote: 1}},
		{"cut short outside the quote", a[:40] + "\n" + b, []kept{kb}, Skips{Fields: 1}},
		{"two rows fused", a[:len(a)-30] + b + "\n" + b, []kept{kb}, Skips{Quote: 1}},
		{"not utf-8", strings.Replace(a, "boom", "b\xc3\x28m", 1) + "\n" + b, []kept{kb}, Skips{UTF8: 1}},
		{"bad TimeUnixNano: the runtime's time", logRow("-6795364578871345152", "x") + "\n" + logRow("12ab", "y"),
			[]kept{{1674987142000000001, "", "x"}, {1674987142000000001, "", "y"}}, Skips{}},
		{"no time at all", strings.Replace(strings.Replace(a, nano, "x", 1), "2023-01-29T10:12:22.000000001Z", "never", 1) + "\n" + b,
			[]kept{kb}, Skips{Value: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []kept
			skips, err := ReadLogs(strings.NewReader(logHeader+tc.body), func(l LogLine) {
				got = append(got, kept{l.TimeNano, l.Level, l.Message})
				assert.Equal(t, "ts-a-service", l.Service)
			})
			require.NoError(t, err)
			assert.Equal(t, tc.kept, got)
			assert.Equal(t, tc.skips, skips)
		})
	}
}

// A Log cell that is plain text or a bare JSON record; times fall back to
// the Timestamp column.
func TestReadLogsCells(t *testing.T) {
	t.Parallel()
	body := strings.Join([]string{
		`2023-01-29T10:12:22Z,,n,ts-a-service-5d-x1,c,,,WARN a.B#3 plain`,
		`2023-01-29T10:12:22Z,1,n,ts-a-service-5d-x1,c,,,"{""level"":""Err"",""msg"":""json""}"`,
		`bad,bad,n,ts-a-service-5d-x1,c,,,"{""level"":""info"",""message"":""timed"",""@timestamp"":""2023-01-29T18:12:23+08:00""}"`,
	}, "\n")
	var got []LogLine
	skips, err := ReadLogs(strings.NewReader(logHeader+body), func(l LogLine) { got = append(got, l) })
	require.NoError(t, err)
	assert.Zero(t, skips)
	require.Len(t, got, 3)
	assert.Equal(t, []string{"WARN", "a.B#3", "plain"}, []string{got[0].Level, got[0].Logger, got[0].Message})
	assert.Equal(t, int64(1674987142e9), got[0].TimeNano, "from Timestamp")
	assert.Equal(t, []string{"ERROR", "json"}, []string{got[1].Level, got[1].Message})
	assert.Equal(t, int64(1), got[1].TimeNano)
	assert.Equal(t, int64(1674987143e9), got[2].TimeNano, "from @timestamp")
}

func TestParseLogCell(t *testing.T) {
	t.Parallel()
	const ns = int64(1674987142929000000) // 2023-01-29T10:12:22.929Z
	for _, tc := range []struct {
		name, cell         string
		level, logger, msg string
		at                 int64
	}{
		{"plain text", "18:12:22.929 ERROR f.s.FoodServiceImpl#302 TraceID: a SpanID: b boom", "ERROR", "f.s.FoodServiceImpl#302", "boom", 0},
		{"plain text without level", "Started in 3.2 seconds", "", "", "Started in 3.2 seconds", 0},
		{"message and severity", `{"message":"disk low","severity":"warning"}`, "WARN", "", "disk low", 0},
		{"level and msg", `{"level":"error","msg":"boom"}`, "ERROR", "", "boom", 0},
		{"upper-case keys", `{"Level":"FATAL","MSG":"down"}`, "FATAL", "", "down", 0},
		{"logback", `{"@timestamp":"2023-01-29T18:12:22.929+08:00","@version":"1","message":"Hello","logger_name":"com.a.Foo","thread_name":"main","level":"WARN","level_value":30000}`,
			"WARN", "com.a.Foo", "Hello", ns},
		{"log4j2 instant", `{"instant":{"epochSecond":1674987142,"nanoOfSecond":929000000},"thread":"main","level":"ERROR","loggerName":"com.a.Bar","message":"fail","endOfBatch":false}`,
			"ERROR", "com.a.Bar", "fail", ns},
		{"log4j2 timeMillis", `{"timeMillis":1674987142929,"level":"INFO","loggerName":"com.a.Bar","message":"ok"}`, "INFO", "com.a.Bar", "ok", ns},
		{"ecs flat", `{"@timestamp":"2023-01-29T10:12:22.929Z","log.level":"warn","log.logger":"a","message":"m"}`, "WARN", "a", "m", ns},
		{"ecs nested", `{"log":{"level":"crit","logger":"a"},"message":"m"}`, "FATAL", "a", "m", 0},
		{"python", `{"levelname":"CRITICAL","name":"x","message":"m"}`, "FATAL", "", "m", 0},
		{"lvl and body", `{"lvl":"dbug","body":"b"}`, "", "", "b", 0},
		{"pino number", `{"level":50,"time":"2023-01-29T10:12:22.929Z","msg":"m"}`, "ERROR", "", "m", ns},
		{"level without message", `{"level":"info","x":1}`, "INFO", "", `{"level":"info","x":1}`, 0},
		{"no level, no message", `{"x":1}`, "", "", `{"x":1}`, 0},
		{"message with the level in its text", `{"message":"18:12:22.929 INFO  a.B#1 hi"}`, "INFO", "a.B#1", "hi", 0},
		{"runtime line, reordered", `{"stream":"stdout","log":"18:12:22.929 WARN  a.B#1 hi\n","time":"2023-01-29T10:12:22.929Z"}`, "WARN", "a.B#1", "hi", ns},
		{"runtime line around a JSON record", `{"log":"{\"level\":\"warning\",\"msg\":\"inner\",\"logger\":\"l\"}\n","stream":"stderr","time":"2023-01-29T10:12:22.929Z"}`,
			"WARN", "l", "inner", ns},
		{"broken JSON is text", `{"log":"18:12:22.929 ERROR a.B#1 cut`, "ERROR", "a.B#1", "cut", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := parseLogCell(tc.cell)
			assert.Equal(t, []string{tc.level, tc.logger, tc.msg}, []string{c.level, c.logger, c.msg})
			assert.Equal(t, tc.at, c.timeNano())
		})
	}
}

func TestLevelName(t *testing.T) {
	t.Parallel()
	for in, want := range map[any]string{
		"TRACE": "TRACE", "Debug": "DEBUG", "info": "INFO", "Notice": "INFO", " WARN ": "WARN", "Warning": "WARN",
		"Err": "ERROR", "error": "ERROR", "SEVERE": "ERROR", "fatal": "FATAL", "Critical": "FATAL", "panic": "FATAL",
		"verbose": "", 10.0: "TRACE", 30.0: "INFO", 45.0: "WARN", 60.0: "FATAL", 5.0: "", 600.0: "", true: "",
	} {
		assert.Equal(t, want, levelName(in), "%v", in)
	}
}
