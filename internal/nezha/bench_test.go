package nezha

import (
	"path/filepath"
	"testing"
)

func BenchmarkReadTraceFile(b *testing.B) {
	path := filepath.Join(dataDir(b), "rca_data", "2023-01-29", "trace", "10_13_trace.csv")
	b.ReportAllocs()
	for b.Loop() {
		spans := 0
		if err := ReadTraceFile(path, func(Span) { spans++ }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadPodMetrics(b *testing.B) {
	path := filepath.Join(dataDir(b), "rca_data", "2023-01-29", "metric", "ts-food-service-f5756978c-k8vqf_metric.csv")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadPodMetrics(path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplayDay(b *testing.B) {
	dir := dataDir(b)
	for b.Loop() {
		if _, _, err := ReplayDay(dir, "2023-01-30"); err != nil {
			b.Fatal(err)
		}
	}
}
