// Package nezha reads the Nezha TrainTicket fault-injection dataset
// (../shared/datasets/nezha-tt-dev.tar.xz, see its README) for benchmarks:
// the archive is extracted once into the repository's git-ignored
// .cache/datasets folder, never into tracked files.
package nezha // import "github.com/otelcol-biz/otelcol-biz/internal/nezha"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

const archiveName = "nezha-tt-dev.tar.xz"

// DefaultDir is where Dir extracts the dataset, relative to the
// repository: cmd/rcabench's and cmd/gnntrain's default -data, which they
// extract on first use when run from the repository's root.
const DefaultDir = ".cache/datasets/nezha-tt-dev"

// Dir returns the extracted dataset (its nezha-tt-dev folder), extracting
// <repoRoot>/../shared/datasets/nezha-tt-dev.tar.xz on first use.
func Dir(repoRoot string) (string, error) {
	dir := filepath.Join(repoRoot, filepath.FromSlash(DefaultDir))
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
	// Peer is the service an exit span calls, when known. The dataset's
	// spans carry no kind or attributes; cmd/rcabench -mask sets it from
	// the span's child before hiding services, as OTel HTTP client
	// instrumentation would set server.address, and Batches sends such a
	// span as a CLIENT span with server.address = Peer.
	Peer string
}

// Service is the pod name without its last two '-' parts (the README's rule).
func (s Span) Service() string { return ServiceOf(s.Pod) }

// ServiceOf strips a pod name's replica-set and pod hashes, as the
// connector does for pods without a service.name.
func ServiceOf(pod string) string { return rootcause.ServiceOfPod(pod) }

// ReadTraceFile reads one HH_MM_trace.csv file with ReadTraces, without
// the counts of the rows it skipped.
func ReadTraceFile(path string, fn func(Span)) error {
	_, err := readFile(path, func(r io.Reader) (Skips, error) { return ReadTraces(r, fn) })
	return err
}

// traceColumns are the columns ReadTraces needs, in spanOf's order.
var traceColumns = []string{"TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano", "EndTimeUnixNano", "Duration"}

// ReadTraces reads a trace CSV (the traceColumns, in any order), calling fn
// for each well-formed row in file order. Malformed rows are skipped and
// counted; it fails only on a read error or a header without those columns.
// An empty file has no rows.
func ReadTraces(r io.Reader, fn func(Span)) (Skips, error) {
	rows, header, err := newRowReader(r)
	if errors.Is(err, io.EOF) {
		return Skips{}, nil
	}
	if err != nil {
		return Skips{}, err
	}
	col, err := columnIndex(header, traceColumns...)
	if err != nil {
		return Skips{}, err
	}
	names := interner{}
	for {
		rec, err := rows.next()
		if errors.Is(err, io.EOF) {
			return rows.skips, nil
		}
		if err != nil {
			return rows.skips, err
		}
		s, ok := spanOf(rec, col, names)
		if !ok {
			rows.skips.Value++
			continue
		}
		fn(s)
	}
}

// spanOf reads a row; false if a time or an id does not parse. The ids
// share memory with the row.
func spanOf(rec []string, col []int, names interner) (Span, bool) {
	start, err1 := strconv.ParseInt(rec[col[5]], 10, 64)
	end, err2 := strconv.ParseInt(rec[col[6]], 10, 64)
	dur, err3 := strconv.ParseInt(rec[col[7]], 10, 64)
	s := Span{
		TraceID: rec[col[0]], SpanID: rec[col[1]], ParentID: rec[col[2]],
		StartNano: start, EndNano: end, DurationMicros: dur,
	}
	// a wrong-length id is what two rows fused inside the first cell leave
	tid, sid, pid := hexLen(s.TraceID), hexLen(s.SpanID), hexLen(s.ParentID)
	if err1 != nil || err2 != nil || err3 != nil || (tid != 16 && tid != 32) || sid != 16 ||
		(pid != 16 && s.ParentID != "root" && s.ParentID != "") {
		return Span{}, false
	}
	s.Pod, s.Operation = names.get(rec[col[3]]), names.get(rec[col[4]])
	return s, true
}

// hexLen is len(s) if s is all hex digits, else -1.
func hexLen(s string) int {
	for i := range len(s) {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return -1
		}
	}
	return len(s)
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
