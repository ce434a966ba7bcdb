package nezha

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
// ReadLogFile splits into Level, Logger and Message.
//
// TraceID, SpanID and Message share memory with the CSV row; clone them to
// keep a few lines of a big file.
type LogLine struct {
	TimeNano        int64  // Unix ns (TimeUnixNano; else the JSON "time", else Timestamp)
	Pod, Service    string // PodName and ServiceOf(PodName)
	TraceID, SpanID string // empty when the line has no trace context
	// Level is "ERROR", "WARN", "INFO", "DEBUG", "TRACE" or "FATAL" ("WARNING"
	// becomes "WARN"), or "" when the text has none or the Log cell is not JSON.
	Level string
	// Logger is the "class#line" after the level ("f.s.FoodServiceImpl#302"),
	// the form construct_data/root_cause_ts.json names code regions in; "" if none.
	Logger string
	// Message is the text after the level, logger and "TraceID: … SpanID: …",
	// without its trailing newline; the raw Log cell when it is not JSON.
	Message string
}

// ReadLogFile reads one HH_MM_log.csv file
// (Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log), calling
// fn for each row in file order (which is not time order).
func ReadLogFile(path string, fn func(LogLine)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, name := range []string{"TimeUnixNano", "PodName", "TraceID", "SpanID", "Log"} {
		if _, ok := col[name]; !ok {
			return fmt.Errorf("%s: no column %s", path, name)
		}
	}
	iNano, iPod, iTrace, iSpan, iLog := col["TimeUnixNano"], col["PodName"], col["TraceID"], col["SpanID"], col["Log"]
	iStamp, hasStamp := col["Timestamp"]
	type names struct{ pod, service string }
	pods := map[string]names{} // one copy of each pod name and its service
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		n, ok := pods[rec[iPod]]
		if !ok {
			p := strings.Clone(rec[iPod])
			n = names{p, ServiceOf(p)}
			pods[p] = n
		}
		line := LogLine{Pod: n.pod, Service: n.service, TraceID: rec[iTrace], SpanID: rec[iSpan]}
		text, jsonTime, isJSON := dockerLog(rec[iLog])
		if isJSON {
			line.Level, line.Logger, line.Message = splitLogText(text)
		} else {
			line.Message = text
		}
		line.TimeNano, _ = strconv.ParseInt(rec[iNano], 10, 64)
		if line.TimeNano <= 0 { // 40 rows hold -6795364578871345152
			line.TimeNano = parseNano(jsonTime)
			if line.TimeNano == 0 && hasStamp {
				line.TimeNano = parseNano(rec[iStamp])
			}
		}
		fn(line)
	}
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

// dockerLog extracts the "log" text (without its trailing newline) and the
// "time" of a container runtime JSON line. For the common shape
// {"log":"…\n","stream":…,"time":"…"} whose text has no other escapes it
// slices s without allocating. If s is not such a JSON object it returns s.
func dockerLog(s string) (text, ts string, ok bool) {
	const prefix = `{"log":"`
	if strings.HasPrefix(s, prefix) {
		i, escaped := len(prefix), false
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				escaped = true
				i++
			}
			i++
		}
		if i < len(s) && strings.HasSuffix(strings.TrimSpace(s), "}") {
			raw := s[len(prefix):i]
			ts = jsonTimeField(s[i:])
			if !escaped {
				return trimNewline(raw), ts, true
			}
			if body, ok := strings.CutSuffix(raw, `\n`); ok && strings.IndexByte(body, '\\') < 0 {
				return trimNewline(body), ts, true
			}
			var str string
			if json.Unmarshal([]byte(s[len(prefix)-1:i+1]), &str) == nil {
				return trimNewline(str), ts, true
			}
		}
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{") { // other key order or spacing
		var v struct {
			Log  *string `json:"log"`
			Time string  `json:"time"`
		}
		if json.Unmarshal([]byte(s), &v) == nil && v.Log != nil {
			return trimNewline(*v.Log), v.Time, true
		}
	}
	return s, "", false
}

// jsonTimeField finds `"time":"…"` (without escapes) in the rest of a JSON line.
func jsonTimeField(s string) string {
	const key = `"time":"`
	i := strings.LastIndex(s, key)
	if i < 0 {
		return ""
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}

func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
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
