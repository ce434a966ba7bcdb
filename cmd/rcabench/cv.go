package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
)

// crossValidate scores the gnn method honestly: cases are split into folds
// (stratified by fault type), and each fold is scored through the connector
// with weights trained, exactly as cmd/gnntrain does, on the simulator and
// the other folds' cases only. The training replays read train, the
// scored ones scored: the same days, without the -without families in
// scored. cmd/gnntrain trains on every family, so the weights a fold is
// scored with are those the shipped weights would be on a system that
// lacks the families, not weights trained for it.
func crossValidate(train, scored []dayCases, s settings, folds int) ([]caseResult, error) {
	type entry struct {
		c, scored nezha.Case
		day       int
		fold      int
	}
	var cases []entry
	for d, dc := range train {
		for i, c := range dc.cases {
			cases = append(cases, entry{c: c, day: d, scored: scored[d].cases[i]})
		}
	}
	slices.SortStableFunc(cases, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.c.Fault.Type, b.c.Fault.Type), a.c.Fault.InjectTime.Compare(b.c.Fault.InjectTime))
	})
	for i := range cases {
		cases[i].fold = i % folds
	}
	rs := s.train()
	examples := make([][]rcatrain.Labeled, len(cases))
	for i, e := range cases {
		ls, err := rcatrain.CaseExamples(e.c, train[e.day].history, rs)
		if err != nil {
			return nil, err
		}
		examples[i] = ls
	}
	sim, err := rcatrain.TrainExamples(rcatrain.SimScenarios, rcatrain.ShapeScenarios, s.seed, rs)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rcabench-cv")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []caseResult
	for f := range folds {
		ex := slices.Clone(sim)
		for i, e := range cases {
			if e.fold != f {
				ex = append(ex, examples[i]...)
			}
		}
		cfg := rcatrain.TrainConfig
		cfg.Seed = s.seed
		m := rcatrain.Fit(ex, cfg)
		b, err := m.Marshal()
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, fmt.Sprintf("fold-%d.json", f))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
		fs := s
		fs.model = path
		for _, e := range cases {
			if e.fold != f {
				continue
			}
			for _, p := range fs.passes() {
				r, err := runCase(e.scored, scored[e.day].history, p)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b caseResult) int { return a.Fault.InjectTime.Compare(b.Fault.InjectTime) })
	return out, nil
}
