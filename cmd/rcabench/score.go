package main

import "github.com/otelcol-biz/otelcol-biz/internal/nezha"

// caseResult is one labelled case: the injected service's rank in the
// scored report (0: missing from it, a miss), and that report's top
// services; with -mask, the services hidden in its replay.
type caseResult struct {
	Fault         nezha.Fault
	Rank          int
	Top           []string
	Hidden        []string
	CulpritHidden bool
}

// scores are AC@1, AC@3 and Avg@5 (the mean of AC@1..AC@5).
// With -mask, cases are replays (cases times seeds) and CulpritHidden
// scores those whose culprit was hidden.
type scores struct {
	Cases         int               `json:"cases"`
	AC1           float64           `json:"ac1"`
	AC3           float64           `json:"ac3"`
	Avg5          float64           `json:"avg5"`
	ByFault       map[string]scores `json:"by_fault,omitempty"`
	CulpritHidden *scores           `json:"culprit_hidden,omitempty"`
}

func acAt(rs []caseResult, k int) float64 {
	if len(rs) == 0 {
		return 0
	}
	hit := 0
	for _, r := range rs {
		if r.Rank > 0 && r.Rank <= k {
			hit++
		}
	}
	return float64(hit) / float64(len(rs))
}

func score(rs []caseResult) scores {
	s := scores{Cases: len(rs), AC1: acAt(rs, 1), AC3: acAt(rs, 3), ByFault: map[string]scores{}}
	for k := 1; k <= 5; k++ {
		s.Avg5 += acAt(rs, k) / 5
	}
	by := map[string][]caseResult{}
	for _, r := range rs {
		by[r.Fault.Type] = append(by[r.Fault.Type], r)
	}
	for t, sub := range by {
		s.ByFault[t] = plainScore(sub)
	}
	var hidden []caseResult
	for _, r := range rs {
		if r.CulpritHidden {
			hidden = append(hidden, r)
		}
	}
	if len(hidden) > 0 {
		h := plainScore(hidden)
		s.CulpritHidden = &h
	}
	return s
}

// plainScore is AC@1, AC@3 and Avg@5 alone.
func plainScore(rs []caseResult) scores {
	b := scores{Cases: len(rs), AC1: acAt(rs, 1), AC3: acAt(rs, 3)}
	for k := 1; k <= 5; k++ {
		b.Avg5 += acAt(rs, k) / 5
	}
	return b
}

// rankOf is the rank of service among candidates ordered by score, ties
// counted at the worst rank; 0 when it is not among them. A hidden service
// counts only where a candidate names it as a blind spot.
func rankOf(service string, hidden bool, cands []candidateScore) int {
	idx := -1
	for i, c := range cands {
		if c.Service == service && (!hidden || c.BlindSpot) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return 0
	}
	rank := 0
	for _, c := range cands {
		if c.Score >= cands[idx].Score {
			rank++
		}
	}
	return rank
}

type candidateScore struct {
	Service   string  `json:"service"`
	Score     float64 `json:"score"`
	BlindSpot bool    `json:"blind_spot"`
}
