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
// the other folds' cases only.
func crossValidate(all []dayCases, s settings, folds int) ([]caseResult, error) {
	type entry struct {
		c    nezha.Case
		day  int
		fold int
	}
	var cases []entry
	for d, dc := range all {
		for _, c := range dc.cases {
			cases = append(cases, entry{c: c, day: d})
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
		ls, err := rcatrain.CaseExamples(e.c, all[e.day].history, rs)
		if err != nil {
			return nil, err
		}
		examples[i] = ls
	}
	sim, err := rcatrain.SimExamples(rcatrain.SimScenarios, s.seed, rs)
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
		train := slices.Clone(sim)
		for i, e := range cases {
			if e.fold != f {
				train = append(train, examples[i]...)
			}
		}
		cfg := rcatrain.TrainConfig
		cfg.Seed = s.seed
		m := rcatrain.Fit(train, cfg)
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
			r, err := runCase(e.c, all[e.day].history, fs)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b caseResult) int { return a.Fault.InjectTime.Compare(b.Fault.InjectTime) })
	return out, nil
}
