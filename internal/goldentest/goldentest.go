// Package goldentest reads and writes pdata golden files as YAML (the OTLP
// JSON shape), like contrib's pkg/golden, which the module proxy here lacks.
// Run a golden test with -update to rewrite its expected files.
package goldentest // import "github.com/otelcol-biz/otelcol-biz/internal/goldentest"

import (
	"flag"
	"os"
	"path/filepath"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"sigs.k8s.io/yaml"
)

// Update is set by `go test -update`: golden tests rewrite expected files.
var Update = flag.Bool("update", false, "rewrite golden files")

// ReadTraces reads a traces golden file.
func ReadTraces(path string) (ptrace.Traces, error) {
	b, err := readJSON(path)
	if err != nil {
		return ptrace.Traces{}, err
	}
	return (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
}

// WriteTraces writes a traces golden file.
func WriteTraces(path string, td ptrace.Traces) error {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return err
	}
	return writeYAML(path, b)
}

// ReadLogs reads a logs golden file.
func ReadLogs(path string) (plog.Logs, error) {
	b, err := readJSON(path)
	if err != nil {
		return plog.Logs{}, err
	}
	return (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
}

// WriteLogs writes a logs golden file.
func WriteLogs(path string, ld plog.Logs) error {
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return err
	}
	return writeYAML(path, b)
}

func readJSON(path string) ([]byte, error) {
	y, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return yaml.YAMLToJSON(y)
}

func writeYAML(path string, jsonBytes []byte) error {
	y, err := yaml.JSONToYAML(jsonBytes)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, y, 0o600)
}

// ReadMetrics reads a metrics golden file.
func ReadMetrics(path string) (pmetric.Metrics, error) {
	b, err := readJSON(path)
	if err != nil {
		return pmetric.Metrics{}, err
	}
	return (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(b)
}

// WriteMetrics writes a metrics golden file.
func WriteMetrics(path string, md pmetric.Metrics) error {
	b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	if err != nil {
		return err
	}
	return writeYAML(path, b)
}
