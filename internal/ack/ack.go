// Package ack carries a delivery acknowledgement with data through a
// pipeline, so that a receiver acknowledges its source (a Kafka offset
// commit) only after every stage that held the data has handed it on.
//
// The receiver creates a Token per source unit (a Kafka record), puts it in
// the context of its Consume call and releases its own reference when the
// call returns. A stage that keeps data past the return of its Consume call
// (a hold, a buffer) retains the token from the context and releases it once
// that data is handed on (or dropped on purpose). The token completes when
// the last reference is released; it failed when any release carried an
// error, and the receiver then delivers the unit again (at-least-once).
//
// Stages that drop the context (contrib's batch and tail_sampling
// processors) cannot take part: the gateway does without them on its
// delivery paths (see the README, "At-least-once").
package ack // import "github.com/otelcol-biz/otelcol-biz/internal/ack"

import (
	"context"
	"sync/atomic"
)

// Token counts the stages that still hold data of one source unit.
type Token struct {
	refs   atomic.Int64
	failed atomic.Bool
	done   func(failed bool)
}

// New returns a token holding one reference, the caller's. done runs once,
// on the goroutine releasing the last reference.
func New(done func(failed bool)) *Token {
	t := &Token{done: done}
	t.refs.Store(1)
	return t
}

// Retain adds a reference. A nil token (data without a source to
// acknowledge) is valid and ignored.
func (t *Token) Retain() {
	if t != nil {
		t.refs.Add(1)
	}
}

// Release drops a reference; err != nil marks the unit as not delivered.
func (t *Token) Release(err error) {
	if t == nil {
		return
	}
	if err != nil {
		t.failed.Store(true)
	}
	switch n := t.refs.Add(-1); {
	case n == 0:
		t.done(t.failed.Load())
	case n < 0:
		panic("ack: token released more often than retained")
	}
}

type tokenKey struct{}

// NewContext returns ctx carrying t.
func NewContext(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// FromContext returns the token of ctx, or nil.
func FromContext(ctx context.Context) *Token {
	t, _ := ctx.Value(tokenKey{}).(*Token)
	return t
}

// Set is the distinct tokens of the data one stage holds together (a held
// trace fed by several Kafka records). The zero value is empty; it keeps
// the last token added apart to skip the common repeat without a scan.
type Set struct {
	tokens []*Token
}

// Add retains t once per set (a nil t is ignored).
func (s *Set) Add(t *Token) {
	if t == nil {
		return
	}
	for i := len(s.tokens) - 1; i >= 0; i-- {
		if s.tokens[i] == t {
			return
		}
	}
	t.Retain()
	s.tokens = append(s.tokens, t)
}

// Release releases every token of the set with err and empties it.
func (s *Set) Release(err error) {
	for i, t := range s.tokens {
		t.Release(err)
		s.tokens[i] = nil
	}
	s.tokens = s.tokens[:0]
}

// MoveTo hands the set's references to dst (no new retain) and empties it:
// the held data moved to one outgoing batch.
func (s *Set) MoveTo(dst *Set) {
	dst.tokens = append(dst.tokens, s.tokens...)
	clear(s.tokens)
	s.tokens = s.tokens[:0]
}

// Len is the number of references held.
func (s *Set) Len() int { return len(s.tokens) }
