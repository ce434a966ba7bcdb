package ack

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestToken(t *testing.T) {
	tests := []struct {
		name       string
		releases   []error // after the caller's own release
		retains    int
		wantDone   bool
		wantFailed bool
	}{
		{name: "no stage held it", wantDone: true},
		{name: "held and handed on", retains: 2, releases: []error{nil, nil}, wantDone: true},
		{name: "still held", retains: 2, releases: []error{nil}},
		{name: "a stage failed", retains: 2, releases: []error{nil, errors.New("queue full")}, wantDone: true, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, failed := 0, false
			tok := New(func(f bool) { calls++; failed = f })
			for range tt.retains {
				tok.Retain()
			}
			tok.Release(nil)
			for _, err := range tt.releases {
				tok.Release(err)
			}
			if tt.wantDone {
				assert.Equal(t, 1, calls)
			} else {
				assert.Zero(t, calls)
			}
			assert.Equal(t, tt.wantFailed, failed)
		})
	}
}

func TestNilTokenAndContext(t *testing.T) {
	var tok *Token
	tok.Retain()
	tok.Release(errors.New("ignored"))
	assert.Nil(t, FromContext(context.Background()))

	done := false
	tok = New(func(bool) { done = true })
	assert.Same(t, tok, FromContext(NewContext(context.Background(), tok)))
	tok.Release(nil)
	assert.True(t, done)
	assert.Panics(t, func() { tok.Release(nil) })
}

func TestSet(t *testing.T) {
	var done [2]bool
	a := New(func(bool) { done[0] = true })
	b := New(func(bool) { done[1] = true })
	var s Set
	s.Add(a)
	s.Add(b)
	s.Add(a) // retained once per set
	s.Add(nil)
	assert.Equal(t, 2, s.Len())
	a.Release(nil)
	b.Release(nil)
	assert.Equal(t, [2]bool{}, done, "the set still holds both")
	s.Release(nil)
	assert.Equal(t, [2]bool{true, true}, done)
	assert.Zero(t, s.Len())
}
