package nezha

import (
	"encoding/json"
	"math"
	"strings"
)

// logCell is what a Log cell says.
type logCell struct {
	level, logger, msg string
	ts                 string // the runtime line's "time", parsed only when needed
	at                 int64  // Unix ns of a JSON line's own time; 0 if none
}

// timeNano is the cell's time in Unix ns, 0 if it has none.
func (c logCell) timeNano() int64 {
	if t := parseNano(c.ts); t > 0 {
		return t
	}
	return c.at
}

// parseLogCell reads a Log cell: the container runtime's JSON line around
// the application's text, or that text alone. The text is either plain
// ("18:12:22.929 ERROR f.s.FoodServiceImpl#302 … message", see splitLogText)
// or a JSON record (see jsonCell).
func parseLogCell(cell string) logCell {
	if text, ts, ok := dockerLine(cell); ok {
		c := parseLogText(text, 1)
		c.ts = ts
		return c
	}
	return parseLogText(cell, 2)
}

// parseLogText reads plain text or, depth > 0, a JSON record; depth bounds
// JSON lines nested as another's text.
func parseLogText(s string, depth int) logCell {
	if depth > 0 && strings.HasPrefix(strings.TrimLeft(s, " \t"), "{") {
		var obj map[string]any
		if json.Unmarshal([]byte(s), &obj) == nil {
			return jsonCell(obj, s, depth)
		}
	}
	level, logger, msg := splitLogText(s)
	return logCell{level: level, logger: logger, msg: msg}
}

// dockerLine is parseLogCell's fast path for the runtime's exact shape
// {"log":"…","stream":"stdout"|"stderr","time":"…"}, which every row of the
// dataset has: it returns the text, without its trailing newline, and the
// time, slicing s when the text has no escape but that newline.
func dockerLine(s string) (text, ts string, ok bool) {
	rest, ok := strings.CutPrefix(s, `{"log":"`)
	if !ok {
		return "", "", false
	}
	i, escaped := 0, false
	for i < len(rest) && rest[i] != '"' {
		if rest[i] == '\\' {
			escaped = true
			i++
		}
		i++
	}
	if i >= len(rest) {
		return "", "", false
	}
	raw, tail := rest[:i], rest[i:]
	if tail, ok = strings.CutPrefix(tail, `","stream":"stdout","time":"`); !ok {
		if tail, ok = strings.CutPrefix(rest[i:], `","stream":"stderr","time":"`); !ok {
			return "", "", false
		}
	}
	if ts, ok = strings.CutSuffix(tail, `"}`); !ok || strings.ContainsAny(ts, `"\`) {
		return "", "", false
	}
	if !escaped {
		return trimNewline(raw), ts, true
	}
	if body, ok := strings.CutSuffix(raw, `\n`); ok && strings.IndexByte(body, '\\') < 0 {
		return trimNewline(body), ts, true
	}
	var str string
	if json.Unmarshal([]byte(`"`+raw+`"`), &str) != nil {
		return "", "", false
	}
	return trimNewline(str), ts, true
}

// A JSON record's keys, by precedence, matched case-insensitively. The
// formats: {"message": …, "severity": "info"}, {"level": "error", "msg": …},
// logback's JSON layouts ("level", "message", "logger_name", "@timestamp"),
// log4j2's JsonLayout ("level", "message", "loggerName", "instant" or
// "timeMillis"), ECS ("log.level", "log.logger", flat or nested), python
// ("levelname"), and the runtime line ("log", "time").
var (
	levelKeys   = []string{"level", "severity", "log.level", "levelname", "lvl"}
	messageKeys = []string{"message", "msg", "log", "body"}
	loggerKeys  = []string{"logger_name", "loggerName", "logger", "log.logger"}
	timeKeys    = []string{"@timestamp", "timestamp", "time", "ts"}
)

// jsonCell reads a decoded JSON line (raw its text). One with a level is
// the application's record; one without is a runtime's or shipper's line
// whose message is the application's text, read again.
func jsonCell(obj map[string]any, raw string, depth int) logCell {
	level, hasLevel := lookup(obj, levelKeys...)
	if !hasLevel {
		level, hasLevel = nested(obj, "log", "level")
	}
	msg, hasMsg := firstString(obj, messageKeys...)
	if !hasLevel && hasMsg {
		c := parseLogText(trimNewline(msg), depth-1)
		if t := recordTime(obj); t > 0 {
			c.at = t
		}
		return c
	}
	c := logCell{level: levelName(level), msg: raw, at: recordTime(obj)}
	if hasMsg {
		c.msg = trimNewline(msg)
	}
	c.logger, _ = firstString(obj, loggerKeys...)
	if c.logger == "" {
		l, _ := nested(obj, "log", "logger")
		c.logger, _ = l.(string)
	}
	return c
}

// levelName maps a record's level to LogLine.Level: names case-insensitively
// (syslog's and python's too), numbers as pino and bunyan write them.
func levelName(v any) string {
	switch v := v.(type) {
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "trace":
			return "TRACE"
		case "debug":
			return "DEBUG"
		case "info", "information", "informational", "notice":
			return "INFO"
		case "warn", "warning":
			return "WARN"
		case "err", "error", "severe":
			return "ERROR"
		case "fatal", "critical", "crit", "alert", "emerg", "emergency", "panic":
			return "FATAL"
		}
	case float64:
		for _, l := range []struct {
			min  float64
			name string
		}{{60, "FATAL"}, {50, "ERROR"}, {40, "WARN"}, {30, "INFO"}, {20, "DEBUG"}, {10, "TRACE"}} {
			if v >= l.min && v < 100 {
				return l.name
			}
		}
	}
	return ""
}

// recordTime is a JSON line's time in Unix ns: an RFC 3339 string under a
// timeKeys key, log4j2's "instant" or "timeMillis"; 0 if none.
func recordTime(obj map[string]any) int64 {
	for _, k := range timeKeys {
		if v, ok := lookup(obj, k); ok {
			if s, ok := v.(string); ok {
				if t := parseNano(s); t > 0 {
					return t
				}
			}
		}
	}
	const maxSec = 1e10 // year 2286: past it, ns overflow int64
	if v, ok := lookup(obj, "instant"); ok {
		inst, _ := v.(map[string]any)
		sec, _ := inst["epochSecond"].(float64)
		ns, _ := inst["nanoOfSecond"].(float64)
		if sec > 0 && sec < maxSec && ns >= 0 && ns < 1e9 {
			return int64(sec)*1e9 + int64(ns)
		}
	}
	if v, ok := lookup(obj, "timeMillis"); ok {
		if ms, ok := v.(float64); ok && ms > 0 && ms < maxSec*1e3 {
			return int64(math.Round(ms)) * 1e6
		}
	}
	return 0
}

// lookup returns the value of the first of keys obj has (not null),
// matching keys case-insensitively; among keys equal but for case, the exact
// one, else the least.
func lookup(obj map[string]any, keys ...string) (any, bool) {
	for _, key := range keys {
		if v, ok := obj[key]; ok && v != nil {
			return v, true
		}
		best, found := "", false
		for k := range obj {
			if strings.EqualFold(k, key) && (!found || k < best) {
				best, found = k, true
			}
		}
		if found && obj[best] != nil {
			return obj[best], true
		}
	}
	return nil, false
}

// firstString is lookup's first string value.
func firstString(obj map[string]any, keys ...string) (string, bool) {
	for _, key := range keys {
		if v, ok := lookup(obj, key); ok {
			if s, ok := v.(string); ok {
				return s, true
			}
		}
	}
	return "", false
}

// nested is obj[outer][inner], as ECS nests "log.level".
func nested(obj map[string]any, outer, inner string) (any, bool) {
	v, _ := lookup(obj, outer)
	m, _ := v.(map[string]any)
	return lookup(m, inner)
}

func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}
