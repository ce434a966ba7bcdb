package main

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"
)

// settings are the connector settings a replay uses.
type settings struct {
	method, model           string
	delay, window, baseline time.Duration
	seed                    uint64 // gnn cross-validation: simulator and weight initialisation
	mask                    masking
	maskSeed                uint64 // the pass's -mask seed
}

// passes are the replays of each case: one per -mask seed, one without -mask.
func (s settings) passes() []settings {
	if !s.mask.on() {
		return []settings{s}
	}
	out := make([]settings, len(s.mask.seeds))
	for i, seed := range s.mask.seeds {
		out[i] = s
		out[i].maskSeed = seed
	}
	return out
}

// train is the same replay for internal/rcatrain (engine-level windows).
func (s settings) train() rcatrain.Settings {
	return rcatrain.Settings{Window: s.window, Baseline: s.baseline, Delay: s.delay, MinAnomaly: rcatrain.Defaults.MinAnomaly}
}

// runCase replays the history, then the case, through a new connector
// (its factory and Consume* calls) and scores its first report whose
// window ends at or after inject_time + delay; with -mask, with the pass's
// services hidden (a hidden culprit counts only as a blind spot).
func runCase(c nezha.Case, history []nezha.Event, s settings) (caseResult, error) {
	var hidden []string
	if s.mask.on() {
		c, history, hidden = s.mask.hide(c, history, s.maskSeed)
	}
	ctx := context.Background()
	fac := gnnrootcause.NewFactory()
	cfg := fac.CreateDefaultConfig().(*gnnrootcause.Config)
	// The replay has about one fault-free minute of history per case: short
	// windows and baseline, and a low gate so every case is ranked.
	cfg.Window, cfg.Baseline, cfg.MinAnomaly = s.window, s.baseline, rcatrain.Defaults.MinAnomaly
	cfg.Method, cfg.Model = gnnrootcause.Method(s.method), s.model
	cfg.IdleFlush = 0 // event time only: the replay runs much faster than the data
	if err := validate(cfg); err != nil {
		return caseResult{}, err
	}
	set := connectortest.NewNopSettings(component.MustNewType("gnn_root_cause"))
	sink := &consumertest.LogsSink{}
	spansIn, err := fac.CreateTracesToLogs(ctx, set, cfg, sink)
	if err != nil {
		return caseResult{}, err
	}
	logsIn, err := fac.CreateLogsToLogs(ctx, set, cfg, sink)
	if err != nil {
		return caseResult{}, err
	}
	metricsIn, err := fac.CreateMetricsToLogs(ctx, set, cfg, sink)
	if err != nil {
		return caseResult{}, err
	}
	host := componenttest.NewNopHost()
	for _, c := range []component.Component{spansIn, logsIn, metricsIn} {
		if err := c.Start(ctx, host); err != nil {
			return caseResult{}, err
		}
	}
	var feedErr error
	feed := func(td ptrace.Traces, ld plog.Logs, md pmetric.Metrics) {
		if feedErr == nil && md.DataPointCount() > 0 {
			feedErr = metricsIn.ConsumeMetrics(ctx, md)
		}
		if feedErr == nil && ld.LogRecordCount() > 0 {
			feedErr = logsIn.ConsumeLogs(ctx, ld)
		}
		if feedErr == nil && td.SpanCount() > 0 {
			feedErr = spansIn.ConsumeTraces(ctx, td)
			if feedErr == nil { // rank the windows these spans closed before the next batch
				feedErr = gnnrootcause.Settle(ctx, spansIn)
			}
		}
	}
	nezha.Replay(history, c, int64(s.window), feed)
	for _, c := range []component.Component{spansIn, logsIn, metricsIn} {
		if err := c.Shutdown(ctx); err != nil {
			return caseResult{}, err
		}
	}
	if feedErr != nil {
		return caseResult{}, feedErr
	}
	res := caseResult{Fault: c.Fault, Hidden: hidden, CulpritHidden: slices.Contains(hidden, c.Fault.Service)}
	due := c.Fault.InjectTime.Add(s.delay)
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, r := range sl.LogRecords().All() {
					var rep struct {
						WindowEnd  string           `json:"window_end"`
						Candidates []candidateScore `json:"candidates"`
					}
					if json.Unmarshal([]byte(r.Body().Str()), &rep) != nil {
						continue
					}
					end, err := time.Parse(time.RFC3339, rep.WindowEnd)
					if err != nil || end.Before(due) {
						continue
					}
					res.Rank = rankOf(c.Fault.Service, res.CulpritHidden, rep.Candidates)
					for _, c := range rep.Candidates {
						name := c.Service
						if c.BlindSpot {
							name += "(blind)"
						}
						res.Top = append(res.Top, name)
					}
					return res, nil
				}
			}
		}
	}
	return res, nil // no report: a miss
}

// validate checks cfg. The connector's YAML does not offer the engine's
// extra baselines (rootcause.BenchMethods), though its engine runs them:
// for those the rest of cfg is checked with the default method in place.
func validate(cfg *gnnrootcause.Config) error {
	if !slices.Contains(rootcause.BenchMethods, string(cfg.Method)) {
		return cfg.Validate()
	}
	v := *cfg
	v.Method = gnnrootcause.MethodGNN
	return v.Validate()
}
