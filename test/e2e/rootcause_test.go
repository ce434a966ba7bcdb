package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rcaReport is the part of a gnn_root_cause report body the test reads.
type rcaReport struct {
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Pattern     string    `json:"pattern"`
	Candidates  []struct {
		Service   string   `json:"service"`
		Operation string   `json:"operation"`
		Evidence  []string `json:"evidence"`
	} `json:"candidates"`
	Cascade *struct {
		OriginService   string `json:"origin_service"`
		OriginOperation string `json:"origin_operation"`
		Layers          []struct {
			Service  string  `json:"service"`
			BudgetMs float64 `json:"budget_ms"`
		} `json:"layers"`
	} `json:"cascade"`
}

// TestDemoRootCause runs the demo shop through the whole stack with one
// fault at a time, switched on after a fault-free baseline (-fault-after),
// and reads gnn_root_cause's reports back from Loki and its scores from
// Prometheus:
//   - a latency fault in payment: the first report of the fault names
//     payment first;
//   - a timeout cascade (800 / 500 / 200 ms nested deadlines, the innermost
//     in payment's bank call): a timeout_cascade report names payment and
//     its bank.authorize operation, with each layer's budget.
//
// Windows are 2 s and the baseline 40 s so the test stays short.
func TestDemoRootCause(t *testing.T) {
	st := startStack(t, "BIZ_SAMPLING_PERCENT=100", "BIZ_RCA_WINDOW=2s", "BIZ_RCA_BASELINE=40s")
	demo := buildDemo(t)

	faults := []struct {
		name    string
		flag    string
		service string
		check   func(t *testing.T, r rcaReport)
	}{
		{"latency in payment", "-fault-latency=payment:250ms", "payment", func(t *testing.T, r rcaReport) {
			assert.NotEqual(t, "timeout_cascade", r.Pattern)
		}},
		{"timeout cascade", "-fault-timeout-cascade", "payment", func(t *testing.T, r rcaReport) {
			require.Equal(t, "timeout_cascade", r.Pattern)
			require.NotNil(t, r.Cascade)
			assert.Equal(t, "payment", r.Cascade.OriginService)
			assert.Equal(t, "bank.authorize", r.Cascade.OriginOperation)
			assert.Equal(t, "bank.authorize", r.Candidates[0].Operation)
			require.GreaterOrEqual(t, len(r.Cascade.Layers), 2)
			assert.InDelta(t, 200, r.Cascade.Layers[0].BudgetMs, 60, "the innermost budget")
			for i := 1; i < len(r.Cascade.Layers); i++ {
				assert.Greater(t, r.Cascade.Layers[i].BudgetMs, r.Cascade.Layers[i-1].BudgetMs, "budgets grow outwards")
			}
		}},
	}
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			on := runDemoFault(t, demo, st.agentGRPC, uint64(20+i), f.flag)
			var first *rcaReport
			require.Eventually(t, func() bool {
				for _, r := range rcaReports(t, st.loki) {
					if r.WindowStart.Before(on) || len(r.Candidates) == 0 {
						continue
					}
					if f.flag == "-fault-timeout-cascade" && r.Pattern != "timeout_cascade" {
						continue
					}
					if first == nil || r.WindowStart.Before(first.WindowStart) {
						first = &r
					}
				}
				return first != nil
			}, 60*time.Second, time.Second, "Loki: a report after the fault switched on at %s", on)
			if !assert.Equal(t, f.service, first.Candidates[0].Service, "the first report after the fault: %+v", *first) {
				for _, r := range rcaReports(t, st.loki) { // the reports around it, for the diagnosis
					if !r.WindowEnd.Before(on.Add(-4*time.Second)) && r.WindowStart.Before(on.Add(10*time.Second)) {
						t.Logf("report %s..%s %s: %+v", r.WindowStart.Format(time.TimeOnly), r.WindowEnd.Format(time.TimeOnly), r.Pattern, r.Candidates)
					}
				}
			}
			f.check(t, *first)
		})
	}

	q := `max(rca_root_cause_score{service="payment"})`
	require.Eventually(t, func() bool {
		v := promQuery(t, st.prometheus, q)
		return len(v) == 1 && v[0] != 0
	}, 60*time.Second, time.Second, "Prometheus: %s", q)
}

// buildDemo builds cmd/demo into a temporary folder.
func buildDemo(t *testing.T) string {
	t.Helper()
	demo := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", demo, "./cmd/demo")
	build.Dir = repoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return demo
}

// runDemoFault runs the shop for 30 s fault-free then 16 s with the fault,
// and returns when the fault switched on.
func runDemoFault(t *testing.T, demo, endpoint string, seed uint64, fault string) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	shop := exec.CommandContext(ctx, demo, "-endpoint="+endpoint, "-orders=460", "-rate=10", fmt.Sprintf("-seed=%d", seed), "-fault-after=30s", fault)
	shop.Stdout, shop.Stderr = &stdout, &stderr
	require.NoError(t, shop.Run(), "demo shop: %s", stderr.String())
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if at, ok := strings.CutPrefix(sc.Text(), "faults on "); ok {
			on, err := time.Parse(time.RFC3339Nano, at)
			require.NoError(t, err)
			return on
		}
	}
	t.Fatalf("the demo did not switch its fault on:\n%s", stdout.String())
	return time.Time{}
}

// rcaReports reads every root-cause report Loki holds (the connector's
// log stream, service_name otelcol-biz), oldest window first.
func rcaReports(t *testing.T, loki string) []rcaReport {
	t.Helper()
	var out []rcaReport
	for _, s := range lokiQueryLimit(t, loki, `{service_name="otelcol-biz"}`, 5000) {
		for _, line := range s.Lines {
			var rep rcaReport
			if json.Unmarshal([]byte(line), &rep) == nil {
				out = append(out, rep)
			}
		}
	}
	slices.SortFunc(out, func(a, b rcaReport) int { return a.WindowStart.Compare(b.WindowStart) })
	return out
}
