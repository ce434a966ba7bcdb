// Package nezha reads the Nezha TrainTicket fault-injection dataset
// (../shared/datasets/nezha-tt-dev.tar.xz, see its README) for benchmarks:
// the archive is extracted once into the repository's git-ignored
// .cache/datasets folder, never into tracked files.
package nezha // import "github.com/otelcol-biz/otelcol-biz/internal/nezha"

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

const archiveName = "nezha-tt-dev.tar.xz"

// Dir returns the extracted dataset (its nezha-tt-dev folder), extracting
// <repoRoot>/../shared/datasets/nezha-tt-dev.tar.xz on first use.
func Dir(repoRoot string) (string, error) {
	dir := filepath.Join(repoRoot, ".cache", "datasets", "nezha-tt-dev")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
		return dir, nil
	}
	archive := filepath.Join(repoRoot, "..", "shared", "datasets", archiveName)
	if _, err := os.Stat(archive); err != nil {
		return "", fmt.Errorf("nezha dataset: %w (expected ../shared beside the repository)", err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("tar", "-xJf", archive, "-C", parent).CombinedOutput(); err != nil {
		return "", fmt.Errorf("extracting %s: %w: %s", archive, err, out)
	}
	return dir, nil
}

// Span is one row of a trace CSV.
type Span struct {
	TraceID, SpanID, ParentID string // ParentID "root" for roots
	Pod, Operation            string
	StartNano, EndNano        int64
	DurationMicros            int64
}

// Service is the pod name without its last two '-' parts (the README's rule).
func (s Span) Service() string { return ServiceOf(s.Pod) }

// ServiceOf strips a pod name's replica-set and pod hashes, as the
// connector does for pods without a service.name.
func ServiceOf(pod string) string { return rootcause.ServiceOfPod(pod) }

// ReadTraceFile reads one HH_MM_trace.csv file.
func ReadTraceFile(path string, fn func(Span)) error {
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
	for _, name := range []string{"TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano", "EndTimeUnixNano", "Duration"} {
		if _, ok := col[name]; !ok {
			return fmt.Errorf("%s: no column %s", path, name)
		}
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		start, _ := strconv.ParseInt(rec[col["StartTimeUnixNano"]], 10, 64)
		end, _ := strconv.ParseInt(rec[col["EndTimeUnixNano"]], 10, 64)
		dur, _ := strconv.ParseInt(rec[col["Duration"]], 10, 64)
		fn(Span{
			TraceID: rec[col["TraceID"]], SpanID: rec[col["SpanID"]], ParentID: rec[col["ParentID"]],
			Pod: strings.Clone(rec[col["PodName"]]), Operation: strings.Clone(rec[col["OperationName"]]),
			StartNano: start, EndNano: end, DurationMicros: dur,
		})
	}
}

// TraceFiles lists a data folder's trace files (kind "construct_data" or
// "rca_data", day "2023-01-29"), sorted by minute.
func TraceFiles(dir, kind, day string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, kind, day, "trace", "*_trace.csv"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no trace files under %s", filepath.Join(dir, kind, day))
	}
	return files, nil // Glob sorts; HH_MM names sort by time
}
