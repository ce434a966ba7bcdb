package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRankOf(t *testing.T) {
	cands := []candidateScore{{Service: "a", Score: 9}, {Service: "b", Score: 5}, {Service: "c", Score: 5}, {Service: "d", Score: 1}}
	assert.Equal(t, 1, rankOf("a", false, cands))
	assert.Equal(t, 3, rankOf("b", false, cands), "ties count at the worst rank")
	assert.Equal(t, 3, rankOf("c", false, cands))
	assert.Equal(t, 4, rankOf("d", false, cands))
	assert.Equal(t, 0, rankOf("x", false, cands), "missing from the ranking: a miss")

	blind := []candidateScore{{Service: "a", Score: 9}, {Service: "h", Score: 5}, {Service: "g", Score: 4, BlindSpot: true}}
	assert.Equal(t, 0, rankOf("h", true, blind), "a hidden culprit counts only as a blind spot")
	assert.Equal(t, 3, rankOf("g", true, blind))
	assert.Equal(t, 2, rankOf("h", false, blind))
}

func TestScore(t *testing.T) {
	rs := []caseResult{
		{Fault: nezha.Fault{Type: "cpu_contention"}, Rank: 1},
		{Fault: nezha.Fault{Type: "cpu_contention"}, Rank: 3},
		{Fault: nezha.Fault{Type: "exception"}, Rank: 0},
		{Fault: nezha.Fault{Type: "exception"}, Rank: 5},
	}
	s := score(rs)
	assert.Equal(t, 4, s.Cases)
	assert.InDelta(t, 0.25, s.AC1, 1e-9)
	assert.InDelta(t, 0.5, s.AC3, 1e-9)
	// AC@1..5 = .25 .25 .5 .5 .75 -> mean .45
	assert.InDelta(t, 0.45, s.Avg5, 1e-9)
	assert.InDelta(t, 0.5, s.ByFault["cpu_contention"].AC1, 1e-9)
	assert.InDelta(t, 0.0, s.ByFault["exception"].AC3, 1e-9)
}
