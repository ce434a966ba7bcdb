package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
)

func TestReportSkips(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	reportSkips(&out, "data", nil)
	assert.Empty(t, out.String(), "clean data prints nothing")

	reportSkips(&out, "data", map[string]nezha.Skips{
		filepath.Join("data", "rca_data", "d", "trace", "10_13_trace.csv"):   {Fields: 2, Quote: 1},
		filepath.Join("data", "construct_data", "d", "log", "08_50_log.csv"): {UTF8: 1},
	})
	assert.Equal(t, "rcabench: skipped 4 rows (quote 1, fields 2, utf8 1) in 2 files\n"+
		"rcabench:   "+filepath.Join("construct_data", "d", "log", "08_50_log.csv")+": 1 row (utf8 1)\n"+
		"rcabench:   "+filepath.Join("rca_data", "d", "trace", "10_13_trace.csv")+": 3 rows (quote 1, fields 2)\n", out.String())
}

func TestDaysOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"2022-08-23", "2022-08-22", "notes"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "rca_data", d), 0o755))
	}
	days, err := daysOf(dir, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"2022-08-22", "2022-08-23"}, days, "every dated folder, in order")

	days, err = daysOf(dir, "2022-08-23")
	require.NoError(t, err)
	assert.Equal(t, []string{"2022-08-23"}, days, "-day names them")

	_, err = daysOf(t.TempDir(), "")
	assert.Error(t, err, "no rca_data")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "empty", "rca_data"), 0o755))
	_, err = daysOf(filepath.Join(dir, "empty"), "")
	assert.ErrorContains(t, err, "no rca_data/<day> folder")
}
