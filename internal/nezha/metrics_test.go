package nezha

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadPodMetrics(t *testing.T) {
	dir := dataDir(t)
	path := filepath.Join(dir, "rca_data", "2023-01-29", "metric", "ts-food-service-f5756978c-k8vqf_metric.csv")
	m, err := ReadPodMetrics(path)
	require.NoError(t, err)
	assert.Equal(t, "ts-food-service-f5756978c-k8vqf", m.Pod)
	assert.Equal(t, "ts-food-service", m.Service())
	assert.Contains(t, m.Columns, "CpuUsageRate(%)")
	assert.Contains(t, m.Columns, "MemoryUsageRate(%)")
	assert.Len(t, m.Columns, 19)
	require.Len(t, m.Times, 874, "whole day minus the held-out windows")
	require.Len(t, m.Rows, len(m.Times))
	assert.Equal(t, int64(1674981669), m.Times[0]) // 08:41:09 UTC
	steps := 0
	for i := 1; i < len(m.Times); i++ {
		d := m.Times[i] - m.Times[i-1]
		if d <= 61 {
			assert.GreaterOrEqual(t, d, int64(59))
			steps++
		} else {
			assert.InDelta(t, 360, d, 61, "a held-out window cut out")
		}
	}
	assert.Greater(t, steps, 850)
	cpu := m.Column("CpuUsageRate(%)")
	require.Len(t, cpu, len(m.Times))
	assert.InDelta(t, 1.5339773331511586, cpu[0], 1e-12)
	assert.True(t, math.IsNaN(m.Rows[1][m.Index("PodServerLatencyP90(s)")]), "NaN cells")
	assert.Equal(t, -1, m.Index("nope"))
	assert.Nil(t, m.Column("nope"))

	front, err := ReadPodMetrics(filepath.Join(dir, "rca_data", "2023-01-29", "metric", "front_service.csv"))
	require.NoError(t, err)
	assert.Equal(t, "Frontend", front.Pod)
	assert.Equal(t, []string{"SuccessRate(%)", "LatencyP50(s)", "LatencyP90(s)", "LatencyP95(s)", "LatencyP99(s)"}, front.Columns)
	assert.Len(t, front.Times, 874)
}

func TestReadAllPodMetrics(t *testing.T) {
	dir := dataDir(t)
	for _, day := range []string{"2023-01-29", "2023-01-30"} {
		files, err := MetricFiles(dir, day)
		require.NoError(t, err)
		for _, path := range files {
			m, err := ReadPodMetrics(path)
			require.NoError(t, err)
			assert.Equal(t, filepath.Base(path), m.Pod+"_metric.csv")
			assert.Len(t, m.Columns, 19)
			assert.Greater(t, len(m.Times), 700)
			for i := 1; i < len(m.Times); i++ {
				assert.GreaterOrEqual(t, m.Times[i]-m.Times[i-1], int64(59), path)
			}
		}
	}
}

func TestParseGoTime(t *testing.T) {
	assert.Equal(t, int64(1674981669), parseGoTime("2023-01-29 08:41:09.969234525 +0000 UTC m=+1.045396385"))
	assert.Equal(t, int64(-1), parseGoTime("yesterday"))
}

func TestReadMetricsDirty(t *testing.T) {
	t.Parallel()
	const header = "Time,TimeStamp,PodName,CpuUsageRate(%),MemoryUsageRate(%)\n"
	row := func(min int, cpu string) string {
		return fmt.Sprintf("2023-01-29 08:%02d:09.9 +0000 UTC m=+1.0,%d,ts-a-service-5d-x1,%s,20", min, 1674981669+60*(min-41), cpu)
	}
	a, b := row(41, "1.5"), row(42, "2.5")
	for _, tc := range []struct {
		name, body string
		times      []int64
		rows       string // fmt.Sprint(Rows): NaN is not equal to itself
		skips      Skips
	}{
		{"clean", a + "\n" + b + "\n", []int64{1674981669, 1674981729}, "[[1.5 20] [2.5 20]]", Skips{}},
		{"empty and NaN cells", row(41, "") + "\r\n" + row(42, "NaN") + "\r\n", []int64{1674981669, 1674981729}, "[[NaN 20] [NaN 20]]", Skips{}},
		{"bad value", row(41, "1.5.1") + "\n" + row(42, "1e999") + "\n" + b, []int64{1674981729}, "[[2.5 20]]", Skips{Value: 2}},
		{"bad TimeStamp: Time", strings.Replace(a, ",1674981669,", ",x,", 1) + "\n" + b, []int64{1674981669, 1674981729}, "[[1.5 20] [2.5 20]]", Skips{}},
		{"no time", strings.Replace(strings.Replace(a, ",1674981669,", ",x,", 1), "2023", "yesterday", 1) + "\n" + b,
			[]int64{1674981729}, "[[2.5 20]]", Skips{Value: 1}},
		{"cut short and fused", a[:50] + "\n" + a[:70] + b + "\n" + b, []int64{1674981729}, "[[2.5 20]]", Skips{Fields: 2}},
		{"quote and utf-8", `"` + a + "\n" + strings.Replace(a, "ts-a", "ts-\xff", 1) + "\n" + b, []int64{1674981729}, "[[2.5 20]]", Skips{Quote: 1, UTF8: 1}},
		{"header only", "", nil, "[]", Skips{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, skips, err := ReadMetrics(strings.NewReader(header + tc.body))
			require.NoError(t, err)
			assert.Equal(t, []string{"CpuUsageRate(%)", "MemoryUsageRate(%)"}, m.Columns)
			assert.Equal(t, tc.times, m.Times)
			assert.Equal(t, tc.rows, fmt.Sprint(m.Rows))
			assert.Equal(t, tc.skips, skips)
			if len(m.Times) > 0 {
				assert.Equal(t, "ts-a-service-5d-x1", m.Pod)
			}
		})
	}
	_, _, err := ReadMetrics(strings.NewReader("PodName,Cpu\nx,1\n"))
	assert.ErrorContains(t, err, "no TimeStamp or Time column")
}
