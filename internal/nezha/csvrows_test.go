package nezha

import (
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readRows reads every row rowReader keeps.
func readRows(t *testing.T, in string) ([]string, [][]string, Skips, error) {
	t.Helper()
	rr, header, err := newRowReader(strings.NewReader(in))
	if err != nil {
		return nil, nil, Skips{}, err
	}
	var rows [][]string
	for {
		rec, err := rr.next()
		if errors.Is(err, io.EOF) {
			return header, rows, rr.skips, nil
		}
		require.NoError(t, err)
		rows = append(rows, append([]string(nil), rec...))
	}
}

func TestRowReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxLineBytes+1)
	for _, tc := range []struct {
		name, in string
		rows     [][]string
		skips    Skips
	}{
		{"clean", "a,b,c\n1,2,3\n4,5,6\n", [][]string{{"1", "2", "3"}, {"4", "5", "6"}}, Skips{}},
		{"crlf and no final newline", "a,b,c\r\n1,2,3\r\n4,5,6", [][]string{{"1", "2", "3"}, {"4", "5", "6"}}, Skips{}},
		{"empty lines are not rows", "a,b,c\n\n1,2,3\n\r\n", [][]string{{"1", "2", "3"}}, Skips{}},
		{"byte order mark", "\uFEFFa,b,c\n1,2,3\n", [][]string{{"1", "2", "3"}}, Skips{}},
		{"quoted cells", "a,b,c\n\"1,x\",\"say \"\"hi\"\"\",\n\"\",\"\",\"\"\n",
			[][]string{{"1,x", `say "hi"`, ""}, {"", "", ""}}, Skips{}},
		{"quote left open costs one row", "a,b,c\n1,2,\"{\"\"log\n4,5,6\n", [][]string{{"4", "5", "6"}}, Skips{Quote: 1}},
		{"bare quote", "a,b,c\n1,2\"x,3\n4,5,6\n", [][]string{{"4", "5", "6"}}, Skips{Quote: 1}},
		{"text after closing quote", "a,b,c\n1,\"2\"x,3\n4,5,6\n", [][]string{{"4", "5", "6"}}, Skips{Quote: 1}},
		{"row cut short", "a,b,c\n1,2\n4,5,6\n", [][]string{{"4", "5", "6"}}, Skips{Fields: 1}},
		{"two rows fused", "a,b,c\n1,24,5,6\n7,8,9\n", [][]string{{"7", "8", "9"}}, Skips{Fields: 1}},
		{"cut short at the end", "a,b,c\n1,2,3\n4,5", [][]string{{"1", "2", "3"}}, Skips{Fields: 1}},
		{"not utf-8", "a,b,c\n1,\xff,3\n4,5,6\n", [][]string{{"4", "5", "6"}}, Skips{UTF8: 1}},
		{"zero fill", "a,b,c\n1,2,3\n\x00\x00\x00\x00\n", [][]string{{"1", "2", "3"}}, Skips{Fields: 1}},
		{"line too long", "a,b,c\n" + long + "\n1,2,3\n" + long, [][]string{{"1", "2", "3"}}, Skips{Long: 2}},
		{"header only", "a,b,c\n", nil, Skips{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header, rows, skips, err := readRows(t, tc.in)
			require.NoError(t, err)
			assert.Equal(t, []string{"a", "b", "c"}, header)
			assert.Equal(t, tc.rows, rows)
			assert.Equal(t, tc.skips, skips)
		})
	}
}

func TestRowReaderHeader(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n\n"} {
		_, _, _, err := readRows(t, in)
		assert.ErrorIs(t, err, io.EOF, "empty file %q", in)
	}
	for _, in := range []string{"a,\"b\n1,2\n", "a,\xff\n", strings.Repeat("x", maxLineBytes+1)} {
		_, _, _, err := readRows(t, in)
		require.Error(t, err)
		assert.NotErrorIs(t, err, io.EOF)
	}
}

func TestSkipsString(t *testing.T) {
	t.Parallel()
	s := Skips{Quote: 1, Fields: 2}.Add(Skips{Value: 3, UTF8: 4, Long: 5})
	assert.Equal(t, 15, s.Total())
	assert.Equal(t, "15 rows (quote 1, fields 2, value 3, utf8 4, long 5)", s.String())
	assert.Equal(t, "1 row (fields 1)", Skips{Fields: 1}.String())
}

// FuzzRowReader checks a line's cells against encoding/csv reading that
// line alone: the same cells, or a skip where csv fails.
func FuzzRowReader(f *testing.F) {
	for _, s := range []string{
		"1,2,3", `"a,b","c""d",`, `a"b,c`, `"a"b`, `"open`, "a,b\r", "\r", "", "x\xffy", `"",""`, `,,`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.Contains(line, "\n") {
			return
		}
		r := &rowReader{width: -1}
		ok := r.split([]byte(strings.TrimSuffix(line, "\r"))) // as readLine trims
		cr := csv.NewReader(strings.NewReader(line))
		cr.FieldsPerRecord = -1
		want, err := cr.Read()
		switch {
		case errors.Is(err, io.EOF): // an empty line, which readLine skips
		case err != nil && ok:
			t.Fatalf("%q: kept %q, csv: %v", line, r.cells, err)
		case err == nil && (!ok || !slices.Equal(r.cells, want)):
			t.Fatalf("%q: got %q (%v), csv %q", line, r.cells, ok, want)
		}
	})
}
