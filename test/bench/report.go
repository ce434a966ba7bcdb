//go:build bench

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// ratio compares two cases run in the same rounds: the median over rounds
// of num.CPUPerM / den.CPUPerM, each pair from one round (paired, so slow
// phases of a shared machine cancel). With base, the base case's cost is
// subtracted from both first: the ratio of what the processors add.
type ratio struct {
	label, num, den, base string
	target                string // e.g. "<= 1.33"
	check                 func(float64) bool
}

func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }
func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }

// ratiosFor lists the reported ratios and issue 18's targets.
func ratiosFor(fixedSpans float64) []ratio {
	var rs []ratio
	loads := []string{"realistic", "flat"}
	if fixedSpans > 0 {
		loads = append(loads, loadSuffix("realistic", fixedSpans), loadSuffix("flat", fixedSpans))
	}
	for i, l := range loads {
		rs = append(rs,
			ratio{label: "gateway trace path / pass-through (" + l + ")", num: "gateway-" + l, den: "passthrough-" + l, target: "<= 1.33", check: atMost(1.33)},
			ratio{label: "stock / gateway trace path (" + l + ")", num: "stock-" + l, den: "gateway-" + l, target: ">= 3", check: atLeast(3)})
		if i < 2 { // the loads as fast as accepted: also with OTLP out
			rs = append(rs, ratio{label: "gateway trace path / pass-through (" + l + ", OTLP out)", num: "gateway-" + l + "-otlp", den: "passthrough-" + l + "-otlp", target: "<= 1.33", check: atMost(1.33)})
		}
	}
	return append(rs,
		ratio{label: "transform/OTTL / log_correlation, whole collector", num: "ottl", den: "logcorrelation", target: ">= 5", check: atLeast(5)},
		ratio{label: "transform/OTTL / log_correlation, processor only (minus baseline)", num: "ottl", den: "logcorrelation", base: "logs-baseline", target: ">= 5", check: atLeast(5)},
		ratio{label: "span_metrics + bucket_tuner / span_metrics", num: "spanmetrics-buckettuner", den: "spanmetrics"},
	)
}

// pairedRatios returns the per-round ratios of num to den (minus base).
func pairedRatios(samples []sample, r ratio) []float64 {
	byRound := map[int]map[string]sample{}
	for _, s := range samples {
		if byRound[s.Round] == nil {
			byRound[s.Round] = map[string]sample{}
		}
		byRound[s.Round][s.Case] = s
	}
	var out []float64
	for round := range len(byRound) {
		m := byRound[round]
		n, ok1 := m[r.num]
		d, ok2 := m[r.den]
		b := m[r.base] // zero when there is no base
		if !ok1 || !ok2 || n.CPUPerM <= 0 || d.CPUPerM <= 0 || d.CPUPerM-b.CPUPerM <= 0 {
			continue
		}
		out = append(out, (n.CPUPerM-b.CPUPerM)/(d.CPUPerM-b.CPUPerM))
	}
	return out
}

// ratioTable renders the ratios first, as BENCHMARKS.md shows them.
func ratioTable(samples []sample, rs []ratio) string {
	var b strings.Builder
	b.WriteString("| ratio of collector CPU per unit | median | per round | target | holds |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rs {
		xs := pairedRatios(samples, r)
		if len(xs) == 0 {
			fmt.Fprintf(&b, "| %s | n/a | | %s | |\n", r.label, r.target)
			continue
		}
		holds := ""
		if r.check != nil {
			holds = map[bool]string{true: "yes", false: "no"}[r.check(median(xs))]
		}
		fmt.Fprintf(&b, "| %s | %.2fx | %s | %s | %s |\n", r.label, median(xs), joinF(xs, "%.2f"), r.target, holds)
	}
	return b.String()
}

// absoluteTable renders the medians per case.
func absoluteTable(samples []sample, groups [][]benchCase) string {
	var b strings.Builder
	b.WriteString("| case | pipeline (unit) | CPU s per M units | units/s sustained | collector cores | peak RSS MiB | rounds | notes (window deltas, last round) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, g := range groups {
		for _, c := range g {
			var cpu, rate, rss, cores []float64
			notes := ""
			for _, s := range samples {
				if s.Case != c.name {
					continue
				}
				if s.Skipped != "" {
					notes = "skipped: " + s.Skipped
					continue
				}
				cpu, rate, rss = append(cpu, s.CPUPerM), append(rate, s.UnitsPerS), append(rss, s.PeakRSSMiB)
				cores = append(cores, s.Cores)
				notes = caseNotes(s)
			}
			fmt.Fprintf(&b, "| %s | %s (%s) | %.2f | %.0f | %.2f | %.0f | %d | %s |\n",
				c.name, c.label, c.unit, median(cpu), median(rate), median(cores), median(rss), len(cpu), notes)
		}
	}
	return b.String()
}

// caseNotes lists the counters that tell whether a run was in normal mode.
func caseNotes(s sample) string {
	var parts []string
	for _, name := range append(slices.Clone(watchedCounters), gaugeNames()...) {
		if v, ok := s.Counters[name]; ok && v != 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimPrefix(name, "otelcol_"), v))
		}
	}
	if s.Refused > 0 {
		parts = append(parts, fmt.Sprintf("loadgen refused %.0f", s.Refused))
	}
	if s.OfferedPerS > 0 {
		parts = append(parts, fmt.Sprintf("offered %.0f spans/s, consumed %.0f spans/s + %.0f logs/s", s.OfferedPerS, s.SpansPerS, s.Logs/s.WindowS))
	}
	return strings.Join(parts, "; ")
}

func gaugeNames() []string {
	out := make([]string, len(watchedGauges))
	for i, g := range watchedGauges {
		out[i] = g + " (at end)"
	}
	return out
}

func joinF(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

// machine describes where the run happened.
func machine(bin string) string {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	ver, _ := exec.Command(bin, "--version").Output()
	return fmt.Sprintf("nproc %d, %s, Linux %s, %s, %s", runtime.NumCPU(), model,
		strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(string(ver)))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// profileTops writes `go tool pprof -top` (flat and -cum) of every saved
// profile next to it and returns, per profile, the first flat entries and
// the component functions (processors, connectors, receivers, exporters)
// with the most cumulative time.
func profileTops(ctx context.Context, dir string, entries int) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.pprof"))
	var b strings.Builder
	for _, f := range files {
		flat := pprofTop(ctx, f, "")
		cum := pprofTop(ctx, f, "-cum")
		base := strings.TrimSuffix(f, ".pprof")
		_ = os.WriteFile(base+".top.txt", []byte(strings.Join(flat, "\n")), 0o644)
		_ = os.WriteFile(base+".cum.txt", []byte(strings.Join(cum, "\n")), 0o644)
		fmt.Fprintf(&b, "%s\n  flat:\n", filepath.Base(f))
		for _, l := range flat[:min(entries, len(flat))] {
			b.WriteString("    " + shorten(l) + "\n")
		}
		b.WriteString("  components, cumulative:\n")
		seen := map[string]bool{}
		for _, l := range cum {
			k := funcKey(l)
			if len(seen) < entries && isComponent(l) && !seen[k] {
				seen[k] = true
				b.WriteString("    " + shorten(l) + "\n")
			}
		}
	}
	return b.String()
}

// pprofTop returns the entry lines of `go tool pprof -top [extra]` (bounded).
func pprofTop(ctx context.Context, file, extra string) []string {
	args := []string{"tool", "pprof", "-top", "-nodecount=200"}
	if extra != "" {
		args = append(args, extra)
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(tctx, "go", append(args, file)...).Output()
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "flat%") })
	return lines[start+1:]
}

// isComponent keeps functions of a pipeline component, not the helpers
// and fan-outs that only wrap the rest of the pipeline.
func isComponent(line string) bool {
	for _, skip := range []string{"helper", "fanout", "internal/graph", "consumer.", "grpc", "runtime.", "obsreport"} {
		if strings.Contains(line, skip) {
			return false
		}
	}
	for _, keep := range []string{"processor", "connector", "receiver", "exporter"} {
		if strings.Contains(line, keep) {
			return true
		}
	}
	return false
}

// funcKey is the function of a pprof line without the closures and
// range-over-func bodies the compiler names after it.
func funcKey(line string) string {
	f := strings.Fields(line)
	if len(f) < 6 {
		return line
	}
	name, _, _ := strings.Cut(strings.Join(f[5:], " "), "-range")
	name = strings.TrimSuffix(name, " (inline)")
	end := strings.IndexByte(name, '(')
	if end < 0 {
		end = len(name)
	}
	slash := strings.LastIndexByte(name[:end], '/') + 1
	parts := strings.SplitN(name[slash:], ".", 4)
	n := 2
	if len(parts) > 1 && strings.HasPrefix(parts[1], "(") {
		n = 3
	}
	return name[:slash] + strings.Join(parts[:min(n, len(parts))], ".")
}

// shorten trims the range-over-func closure names the compiler generates.
func shorten(line string) string {
	line = strings.Join(strings.Fields(line), " ")
	if len(line) > 160 {
		return line[:157] + "..."
	}
	return line
}
