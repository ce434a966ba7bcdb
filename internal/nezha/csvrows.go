package nezha

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// maxLineBytes bounds one CSV line (the dataset's longest is 17 kB), so
// that a file without newlines, such as a crashed writer's zero fill, is
// not read into memory whole.
const maxLineBytes = 1 << 20

// Skips counts the malformed rows a reader dropped from one file, by
// reason. Empty lines are not rows.
type Skips struct {
	Quote  int // a quote left open at the line's end, or one inside an unquoted cell
	Fields int // more or fewer cells than the header: a row cut short, or two fused
	Value  int // a number, time or id that does not parse
	UTF8   int // bytes that are not UTF-8
	Long   int // a line over maxLineBytes
}

// Total is the number of rows dropped.
func (s Skips) Total() int { return s.Quote + s.Fields + s.Value + s.UTF8 + s.Long }

// Add sums two counts.
func (s Skips) Add(o Skips) Skips {
	return Skips{s.Quote + o.Quote, s.Fields + o.Fields, s.Value + o.Value, s.UTF8 + o.UTF8, s.Long + o.Long}
}

// String lists the non-zero reasons: "3 rows (quote 1, fields 2)".
func (s Skips) String() string {
	var parts []string
	for _, r := range []struct {
		name string
		n    int
	}{{"quote", s.Quote}, {"fields", s.Fields}, {"value", s.Value}, {"utf8", s.UTF8}, {"long", s.Long}} {
		if r.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r.name, r.n))
		}
	}
	rows := "rows"
	if s.Total() == 1 {
		rows = "row"
	}
	return fmt.Sprintf("%d %s (%s)", s.Total(), rows, strings.Join(parts, ", "))
}

var errLongLine = errors.New("line too long")

// rowReader reads CSV one line per row, RFC 4180 otherwise ("" inside
// quotes is a quote). encoding/csv lets a quoted cell run on over
// newlines, so one row cut short inside a quote swallows the rest of the
// file; the dataset's cells hold no newlines, so here it costs one row.
type rowReader struct {
	br    *bufio.Reader
	width int      // cells per row: the header's; -1 for any
	cells []string // the current row; the slice is reused, its strings are not
	ends  []int    // cell ends in buf
	buf   []byte   // the current row's unquoted cells
	long  []byte   // a line longer than br's buffer
	skips Skips
}

// newRowReader reads the header; io.EOF for an empty file.
func newRowReader(r io.Reader) (*rowReader, []string, error) {
	rr := &rowReader{br: bufio.NewReaderSize(r, 64<<10), width: -1}
	for {
		line, err := rr.readLine()
		if err != nil {
			return nil, nil, err
		}
		if len(line) == 0 {
			continue
		}
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		if !utf8.Valid(line) || !rr.split(line) {
			return nil, nil, errors.New("malformed header")
		}
		header := append([]string(nil), rr.cells...)
		rr.width = len(header)
		return rr, header, nil
	}
}

// next returns the next well-formed row, counting the malformed ones it
// passes; io.EOF at the end.
func (r *rowReader) next() ([]string, error) {
	for {
		line, err := r.readLine()
		switch {
		case errors.Is(err, errLongLine):
			r.skips.Long++
			continue
		case err != nil:
			return nil, err
		case len(line) == 0:
			continue
		case !utf8.Valid(line):
			r.skips.UTF8++
			continue
		}
		if r.split(line) {
			return r.cells, nil
		}
	}
}

// readLine returns the next line without its "\n" or "\r\n"; the slice is
// valid until the next call.
func (r *rowReader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.br.ReadSlice('\n')
			if len(r.long) <= maxLineBytes { // past it, consume without keeping
				r.long = append(r.long, line...)
			}
		}
		if len(r.long) > maxLineBytes && (err == nil || errors.Is(err, io.EOF)) {
			return nil, errLongLine
		}
		line = r.long
	}
	if len(line) > 0 && errors.Is(err, io.EOF) { // a last line without newline
		err = nil
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// split parses line into r.cells, counting it in r.skips if malformed.
func (r *rowReader) split(line []byte) bool {
	if bytes.IndexByte(line, '"') >= 0 {
		return r.splitQuoted(line)
	}
	s := string(line) // the row's cells share this one string
	r.cells = r.cells[:0]
	for {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			break
		}
		r.cells = append(r.cells, s[:i])
		s = s[i+1:]
	}
	r.cells = append(r.cells, s)
	return r.checkWidth()
}

// splitQuoted is split for a line with quotes: it unquotes the cells into
// r.buf, then cuts one string.
func (r *rowReader) splitQuoted(line []byte) bool {
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	for {
		if len(line) > 0 && line[0] == '"' {
			var ok bool
			if line, ok = r.quotedCell(line[1:]); !ok {
				r.skips.Quote++
				return false
			}
			r.ends = append(r.ends, len(r.buf))
			if len(line) == 0 {
				break
			}
			line = line[1:] // the comma
			continue
		}
		cell, rest, more := bytes.Cut(line, []byte(","))
		if bytes.IndexByte(cell, '"') >= 0 {
			r.skips.Quote++
			return false
		}
		r.buf = append(r.buf, cell...)
		r.ends = append(r.ends, len(r.buf))
		if !more {
			break
		}
		line = rest
	}
	s := string(r.buf)
	r.cells = r.cells[:0]
	start := 0
	for _, end := range r.ends {
		r.cells = append(r.cells, s[start:end])
		start = end
	}
	return r.checkWidth()
}

// quotedCell appends the cell after an opening quote to r.buf and returns
// the rest of the line, at the comma or empty; false if the quote is not
// closed, or closed before something other than a comma.
func (r *rowReader) quotedCell(line []byte) ([]byte, bool) {
	for {
		i := bytes.IndexByte(line, '"')
		if i < 0 {
			return nil, false
		}
		r.buf = append(r.buf, line[:i]...)
		line = line[i+1:]
		if len(line) > 0 && line[0] == '"' {
			r.buf = append(r.buf, '"')
			line = line[1:]
			continue
		}
		return line, len(line) == 0 || line[0] == ','
	}
}

func (r *rowReader) checkWidth() bool {
	if r.width >= 0 && len(r.cells) != r.width {
		r.skips.Fields++
		return false
	}
	return true
}

// columnIndex returns the position of each named column in header.
func columnIndex(header []string, names ...string) ([]int, error) {
	idx := make([]int, len(names))
	for i, name := range names {
		j := -1
		for k, h := range header {
			if h == name { // the last of duplicates, as before
				j = k
			}
		}
		if j < 0 {
			return nil, fmt.Errorf("no column %s", name)
		}
		idx[i] = j
	}
	return idx, nil
}

// maxInterned bounds an interner: a file's pod and operation names number
// in the hundreds.
const maxInterned = 4096

// interner keeps one copy of each repeated cell, so rows do not each
// allocate their pod and operation names.
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(in) < maxInterned {
		in[v] = v
	}
	return v
}

// readFile opens path and reads it with read, naming path in errors.
func readFile(path string, read func(io.Reader) (Skips, error)) (Skips, error) {
	f, err := os.Open(path)
	if err != nil {
		return Skips{}, err
	}
	defer f.Close()
	s, err := read(f)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
