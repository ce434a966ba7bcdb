package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binaryPath returns the otelcol-biz binary under test, building it once when
// OTELCOL_BIZ_BIN is not set.
func binaryPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OTELCOL_BIZ_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "otelcol-biz-e2e")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "otelcol-biz")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/otelcol-biz")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return builtBin
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// syncBuffer collects a process's output; exec writes it from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// collector is one running process under test (otelcol-biz or a backend).
type collector struct {
	name   string
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan error
}

// startCollector starts otelcol-biz in dir with args and extra env vars.
func startCollector(t *testing.T, dir string, env []string, args ...string) *collector {
	t.Helper()
	return startProcess(t, "otelcol-biz", dir, env, binaryPath(t), args...)
}

// startProcess starts bin in dir. The process is stopped by its PID when the
// test ends: SIGTERM, then SIGKILL after 15 s.
func startProcess(t *testing.T, name, dir string, env []string, bin string, args ...string) *collector {
	t.Helper()
	c := &collector{name: name, output: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout = c.output
	c.cmd.Stderr = c.output
	require.NoError(t, c.cmd.Start())
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		pid := c.cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		var exit error // how it ended; shown with its output when the test failed
		select {
		case exit = <-c.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			exit = <-c.done
		}
		if t.Failed() {
			// the end of our own logs; a backend's end is mostly its shutdown
			keep := 8000
			if name != "otelcol-biz" {
				keep = 2000
			}
			out := c.output.String()
			if len(out) > keep {
				out = "..." + out[len(out)-keep:]
			}
			t.Logf("%s (exit: %v) output:\n%s", name, exit, out)
		}
	})
	return c
}

// waitHealthy polls url until it answers 200 (bounded: 90 s).
func (c *collector) waitHealthy(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			t.Fatalf("%s exited before it was healthy: %v\n%s", c.name, err, c.output.String())
		case <-tick.C:
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
	}
	t.Fatalf("%s: %s did not answer 200 within 90s\n%s", c.name, url, c.output.String())
}

// runBinary runs the binary to completion (bounded: 60 s).
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaryPath(t), args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// endpoints are the loopback addresses of a collector run on the embedded
// default configuration.
type endpoints struct {
	grpc, http, health, prometheus string
}

// localEnv moves every endpoint of config/local.yaml to a free loopback port
// (so tests never clash with each other or a developer's collector) and adds
// extra env vars.
func localEnv(t *testing.T, extra ...string) (endpoints, []string) {
	t.Helper()
	ep := endpoints{grpc: freeAddr(t), http: freeAddr(t), health: freeAddr(t), prometheus: freeAddr(t)}
	env := append([]string{
		"BIZ_OTLP_GRPC_ENDPOINT=" + ep.grpc,
		"BIZ_OTLP_HTTP_ENDPOINT=" + ep.http,
		"BIZ_HEALTH_ENDPOINT=" + ep.health,
		"BIZ_PROMETHEUS_ENDPOINT=" + ep.prometheus,
		"BIZ_TELEMETRY_PORT=" + portOf(freeAddr(t)),
	}, extra...)
	return ep, env
}
