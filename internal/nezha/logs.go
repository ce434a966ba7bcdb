package nezha

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// LogLine is one row of a HH_MM_log.csv file.
//
// The Log column is the container runtime's JSON line,
//
//	{"log":"18:12:22.929 ERROR f.s.FoodServiceImpl#302 TraceID: 0bba… SpanID: b8ce… [getAllFood][…]\n","stream":"stdout","time":"2023-01-29T10:12:22.929874503Z"}
//
// whose "log" text starts with a local (UTC+8) clock time, the level, the
// logger (abbreviated class and source line) and the trace context, which
// ReadLogs splits into Level, Logger and Message. The cell may also be that
// text alone, or a JSON log record, bare or as the runtime line's "log"
// (see parseLogCell).
//
// TraceID, SpanID and Message share memory with the CSV row; clone them to
// keep a few lines of a big file.
type LogLine struct {
	// TimeNano is Unix ns: TimeUnixNano; else the runtime's "time", else
	// the JSON record's time, else Timestamp.
	TimeNano        int64
	Pod, Service    string // PodName and ServiceOf(PodName)
	TraceID, SpanID string // empty when the line has no trace context
	// Level is "ERROR", "WARN", "INFO", "DEBUG", "TRACE" or "FATAL" ("WARNING"
	// becomes "WARN"; a JSON record's level is read case-insensitively), or
	// "" when the line has none.
	Level string
	// Logger is the "class#line" after the level ("f.s.FoodServiceImpl#302"),
	// the form construct_data/root_cause_ts.json names code regions in, or a
	// JSON record's logger name; "" if none.
	Logger string
	// Message is the text after the level, logger and "TraceID: … SpanID: …",
	// without its trailing newline; a JSON record's message.
	Message string
}

// ReadLogFile reads one HH_MM_log.csv file with ReadLogs, without the
// counts of the rows it skipped.
func ReadLogFile(path string, fn func(LogLine)) error {
	_, err := readFile(path, func(r io.Reader) (Skips, error) { return ReadLogs(r, fn) })
	return err
}

// ReadLogs reads a log CSV
// (Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log; only
// Timestamp, Node and Container may be missing), calling fn for each
// well-formed row in file order (which is not time order). Malformed rows,
// and rows without any readable time, are skipped and counted; it fails only
// on a read error or a header without those columns. An empty file has no
// rows.
func ReadLogs(r io.Reader, fn func(LogLine)) (Skips, error) {
	rows, header, err := newRowReader(r)
	if errors.Is(err, io.EOF) {
		return Skips{}, nil
	}
	if err != nil {
		return Skips{}, err
	}
	col, err := columnIndex(header, "TimeUnixNano", "PodName", "TraceID", "SpanID", "Log")
	if err != nil {
		return Skips{}, err
	}
	iStamp := -1
	if i, err := columnIndex(header, "Timestamp"); err == nil {
		iStamp = i[0]
	}
	pods := interner{} // one copy of each pod name
	for {
		rec, err := rows.next()
		if errors.Is(err, io.EOF) {
			return rows.skips, nil
		}
		if err != nil {
			return rows.skips, err
		}
		line := logLineOf(rec, col, pods)
		if line.TimeNano <= 0 && iStamp >= 0 {
			line.TimeNano = parseNano(rec[iStamp])
		}
		if line.TimeNano <= 0 {
			rows.skips.Value++
			continue
		}
		fn(line)
	}
}

// logLineOf reads a row (col: TimeUnixNano, PodName, TraceID, SpanID, Log);
// TimeNano is 0 if neither TimeUnixNano nor the Log cell has a time.
func logLineOf(rec []string, col []int, pods interner) LogLine {
	pod := pods.get(rec[col[1]])
	c := parseLogCell(rec[col[4]])
	line := LogLine{
		Pod: pod, Service: ServiceOf(pod), TraceID: rec[col[2]], SpanID: rec[col[3]],
		Level: c.level, Logger: c.logger, Message: c.msg,
	}
	line.TimeNano, _ = strconv.ParseInt(rec[col[0]], 10, 64)
	if line.TimeNano <= 0 { // 36 rows of the dataset hold -6795364578871345152
		line.TimeNano = c.timeNano()
	}
	return line
}

// parseNano parses an RFC 3339 time, or one without zone taken as UTC, into
// Unix ns; 0 if it cannot.
func parseNano(s string) int64 {
	if s == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.Parse("2006-01-02T15:04:05.999999999", s); err != nil {
			return 0
		}
	}
	return t.UnixNano()
}

// splitLogText splits an application log text such as
// "18:12:22.929 WARN  v.s.i.VerifyCodeServiceImpl#114 TraceID: 0bba… SpanID: b8ce… [verifyCode]…"
// into level, logger and message. The level is looked for among the first
// three words (after a clock time, a date and time, or at the start, also as
// "[ERROR]" or "ERROR:"); without one the whole text is the message.
func splitLogText(s string) (level, logger, msg string) {
	rest := s
	for range 3 {
		var word string
		word, rest = nextWord(rest)
		if word == "" {
			break
		}
		if level = levelOf(word); level != "" {
			break
		}
	}
	if level == "" {
		return "", "", s
	}
	if word, after := nextWord(rest); strings.Contains(word, "#") {
		logger, rest = word, after
	}
	rest = strings.TrimLeft(rest, " \t")
	if after, ok := strings.CutPrefix(rest, "TraceID:"); ok {
		rest = strings.TrimLeft(skipValue(after), " \t")
		if after, ok := strings.CutPrefix(rest, "SpanID:"); ok {
			rest = skipValue(after)
		}
	}
	return level, logger, strings.TrimLeft(rest, " \t")
}

// skipValue skips the " value" after "TraceID:" or "SpanID:"; an empty value
// (two spaces) skips nothing.
func skipValue(s string) string {
	if len(s) < 2 || s[0] != ' ' || s[1] == ' ' {
		return s
	}
	if i := strings.IndexAny(s[1:], " \t"); i >= 0 {
		return s[1+i:]
	}
	return ""
}

// nextWord returns the first space-separated word of s and what follows it.
func nextWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// levelOf recognises an upper-case log level word, returning it canonically.
func levelOf(w string) string {
	w = strings.TrimSuffix(w, ":")
	if len(w) > 2 && w[0] == '[' && w[len(w)-1] == ']' {
		w = w[1 : len(w)-1]
	}
	switch w {
	case "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "FATAL":
		return w
	case "WARNING":
		return "WARN"
	}
	return ""
}
