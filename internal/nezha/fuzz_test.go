package nezha

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// rowCount is the number of rows in a CSV body: its lines not empty
// without their "\r".
func rowCount(body string) int {
	n := 0
	for line := range strings.SplitSeq(body, "\n") {
		if strings.TrimSuffix(line, "\r") != "" {
			n++
		}
	}
	return n
}

// The readers fuzzed below get a valid header, then the fuzzed body: they
// must not fail, and every row is either kept or counted. The body alone
// exercises the header.

func FuzzReadTraces(f *testing.F) {
	a := spanRow("0a")
	for _, s := range []string{
		a, a + "\n" + spanRow("0b") + "\r\n", a[:40], a[:40] + a, `"` + a, strings.Replace(a, "GET", `"GET""x"`, 1),
		strings.Replace(a, ",40091", ",-1e3", 1), "\xff" + a, "\x00\x00\x00", "\n\n", "TraceID,SpanID\n" + a,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		kept := 0
		skips, err := ReadTraces(strings.NewReader(traceHeader+body), func(s Span) {
			kept++
			if hexLen(s.TraceID) < 16 || hexLen(s.SpanID) != 16 {
				t.Fatalf("kept a bad span %+v", s)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := rowCount(body); kept+skips.Total() != n {
			t.Fatalf("%d rows, %d kept, skipped %v", n, kept, skips)
		}
		_, _ = ReadTraces(strings.NewReader(body), func(Span) {})
	})
}

func FuzzReadLogs(f *testing.F) {
	const nano = "1674987142929874503"
	a := logRow(nano, "18:12:22.929 ERROR a.B#1 TraceID: x SpanID: y boom")
	for _, s := range []string{
		a, a[:len(a)-30], a[:len(a)-30] + a, logRow("-6795364578871345152", "x"), logRow("x", "y"),
		`2023-01-29T10:12:22Z,,n,p,c,,,WARN plain`,
		`x,1,n,p,c,,,"{""level"":""Err"",""msg"":""json"",""instant"":{""epochSecond"":1e300}}"`,
		`x,x,n,p,c,,,"{""log"":""{\""lvl\"":\""warn\""}"",""time"":""2023-01-29T10:12:22Z""}"`,
		"x,1,n,p,c,,,\xc3\x28", "\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		kept := 0
		skips, err := ReadLogs(strings.NewReader(logHeader+body), func(l LogLine) {
			kept++
			if l.TimeNano <= 0 {
				t.Fatalf("kept a line without time: %+v", l)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := rowCount(body); kept+skips.Total() != n {
			t.Fatalf("%d rows, %d kept, skipped %v", n, kept, skips)
		}
		_, _ = ReadLogs(strings.NewReader(body), func(LogLine) {})
	})
}

func FuzzReadMetrics(f *testing.F) {
	const header = "Time,TimeStamp,PodName,CpuUsageRate(%),MemoryUsageRate(%)\n"
	a := "2023-01-29 08:41:09.969234525 +0000 UTC m=+1.045396385,1674981669,ts-a-service-5d-x1,1.5,20"
	for _, s := range []string{
		a, a + "\r\n" + a, a[:30], a[:30] + a, strings.Replace(a, "1.5", "NaN", 1), strings.Replace(a, "1.5", "", 1),
		strings.Replace(a, "1.5", "0x1p-2", 1), strings.Replace(a, ",1674981669,", ",,", 1), `"` + a, "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, skips, err := ReadMetrics(strings.NewReader(header + body))
		if err != nil {
			t.Fatal(err)
		}
		if n := rowCount(body); len(m.Times)+skips.Total() != n {
			t.Fatalf("%d rows, %d kept, skipped %v", n, len(m.Times), skips)
		}
		if len(m.Rows) != len(m.Times) {
			t.Fatalf("%d rows, %d times", len(m.Rows), len(m.Times))
		}
		for _, r := range m.Rows {
			if len(r) != len(m.Columns) {
				t.Fatalf("row %v, columns %v", r, m.Columns)
			}
		}
		_, _, _ = ReadMetrics(strings.NewReader(body))
	})
}

// FuzzParseLogCell checks the levels read and that the runtime line's fast
// path agrees with encoding/json.
func FuzzParseLogCell(f *testing.F) {
	for _, s := range []string{
		`{"log":"18:12:22.929 INFO  x#1 hi\n","stream":"stdout","time":"2023-01-29T10:12:22.929874503Z"}`,
		`{"log":"a \"q\" \u00e9\n","stream":"stderr","time":"T"}`,
		`{"log":"{\"level\":\"error\",\"msg\":\"m\"}\n","stream":"stdout","time":"2023-01-29T10:12:22Z"}`,
		`{"@timestamp":"2023-01-29T18:12:22.929+08:00","message":"Hello","logger_name":"a","level":"WARN"}`,
		`{"instant":{"epochSecond":1674987142,"nanoOfSecond":929000000},"level":"ERROR","loggerName":"b","message":"f"}`,
		`{"timeMillis":1674987142929,"level":"INFO","message":"ok"}`, `{"log":{"level":"crit"},"msg":"m"}`,
		`{"level":55}`, `{"Level":null,"LEVEL":"warn"}`, "18:12:22.929 ERROR a.B#1 TraceID: a SpanID: b boom", `{"log":"cut`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cell string) {
		c := parseLogCell(cell)
		switch c.level {
		case "", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL":
		default:
			t.Fatalf("level %q", c.level)
		}
		// ReadLogs drops lines that are not UTF-8; encoding/json would
		// replace their bytes
		if _, _, ok := dockerLine(cell); ok && utf8.ValidString(cell) && json.Valid([]byte(cell)) {
			slow := parseLogText(cell, 2)
			if slow.level != c.level || slow.logger != c.logger || slow.msg != c.msg || slow.timeNano() != c.timeNano() {
				t.Fatalf("fast %+v, slow %+v", c, slow)
			}
		}
	})
}
