package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// backendBinary returns a backend built by scripts/install-<name>.sh into
// .cache/bin (running the installer when the binary is missing; it is
// idempotent and pinned). <NAME>_BIN overrides the path.
func backendBinary(t *testing.T, name, envVar string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	bin := filepath.Join(repoRoot(), ".cache", "bin", name)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(), "scripts", "install-"+name+".sh"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "install %s:\n%s", name, out)
	return bin
}

// startLoki runs a single-binary Loki on free loopback ports with its data
// in a temporary folder, and returns its base URL once /ready answers.
func startLoki(t *testing.T) string {
	t.Helper()
	bin := backendBinary(t, "loki", "LOKI_BIN")
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	col := startProcess(t, "loki", dir, []string{
		"LOKI_DATA_DIR=" + dir,
		"LOKI_HTTP_PORT=" + portOf(httpAddr),
		"LOKI_GRPC_PORT=" + portOf(grpcAddr),
	}, bin, "-config.file="+filepath.Join(repoRoot(), "scripts", "backends", "loki", "loki-local.yaml"), "-config.expand-env=true")
	base := "http://" + httpAddr
	col.waitHealthy(t, base+"/ready")
	return base
}

// lokiQuery runs a LogQL range query over the last hour and returns the
// result streams (stream labels merged with structured metadata, as Loki
// answers without categorize-labels) with their lines.
func lokiQuery(t *testing.T, base, query string) []lokiStream {
	t.Helper()
	return lokiQueryLimit(t, base, query, 100)
}

// lokiQueryLimit is lokiQuery returning up to limit lines.
func lokiQueryLimit(t *testing.T, base, query string, limit int) []lokiStream {
	t.Helper()
	q := url.Values{}
	q.Set("query", query)
	q.Set("start", fmt.Sprint(time.Now().Add(-time.Hour).UnixNano()))
	q.Set("end", fmt.Sprint(time.Now().Add(time.Minute).UnixNano()))
	q.Set("limit", fmt.Sprint(limit))
	resp, err := http.Get(base + "/loki/api/v1/query_range?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", query, body)
	var r struct {
		Data struct {
			Result []struct {
				Stream map[string]string `json:"stream"`
				Values [][]string        `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &r))
	var out []lokiStream
	for _, s := range r.Data.Result {
		ls := lokiStream{Labels: s.Stream}
		for _, v := range s.Values {
			ls.Lines = append(ls.Lines, v[1])
		}
		out = append(out, ls)
	}
	return out
}

type lokiStream struct {
	Labels map[string]string
	Lines  []string
}

// lokiLabelNames lists Loki's index label names (not structured metadata).
func lokiLabelNames(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/loki/api/v1/labels?start=" + fmt.Sprint(time.Now().Add(-time.Hour).UnixNano()))
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Data []string `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return r.Data
}

// startPrometheus runs Prometheus (Debian's 2.42 binary from
// scripts/install-prometheus.sh) on a free loopback port, scraping target
// every second, and returns its base URL once it is ready.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := backendBinary(t, "prometheus", "PROMETHEUS_BIN")
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: otelcol-biz\n    static_configs:\n      - targets: [%q]\n", target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600))
	addr := freeAddr(t)
	p := startProcess(t, "prometheus", dir, nil, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--enable-feature=native-histograms")
	base := "http://" + addr
	p.waitHealthy(t, base+"/-/ready")
	return base
}

// promSample is one series of an instant query's result.
type promSample struct {
	Labels map[string]string
	Value  float64
}

// promVector runs an instant PromQL query and returns its series.
func promVector(t *testing.T, base, query string) []promSample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?" + url.Values{"query": {query}}.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Equal(t, "success", r.Status, query)
	var out []promSample
	for _, res := range r.Data.Result {
		if len(res.Value) != 2 {
			continue
		}
		if s, ok := res.Value[1].(string); ok {
			var v float64
			if _, err := fmt.Sscan(s, &v); err == nil {
				out = append(out, promSample{Labels: res.Metric, Value: v})
			}
		}
	}
	return out
}

// promQuery runs an instant PromQL query and returns the sample values.
func promQuery(t *testing.T, base, query string) []float64 {
	t.Helper()
	var out []float64
	for _, s := range promVector(t, base, query) {
		out = append(out, s.Value)
	}
	return out
}
