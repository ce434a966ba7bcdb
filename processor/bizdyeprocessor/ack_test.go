package bizdyeprocessor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/otelcol-biz/otelcol-biz/internal/ack"
)

// source is one acknowledgeable unit (a Kafka record) as a receiver sees it.
type source struct {
	tok          *ack.Token
	done, failed bool
}

func newSource() *source {
	s := &source{}
	s.tok = ack.New(func(failed bool) { s.done, s.failed = true, failed })
	return s
}

// deliver is a receiver's consume call: the token in the context, the
// receiver's own reference released when the call returns.
func (s *source) deliver(t *testing.T, consume func(context.Context) error) {
	t.Helper()
	require.NoError(t, consume(ack.NewContext(context.Background(), s.tok)))
	s.tok.Release(nil)
}

// TestHeldDataIsAcknowledgedWhenHandedOn: a Kafka record whose spans or
// logs biz_dye holds is acknowledged only once they are handed on, and not
// delivered when the next consumer refuses them.
func TestHeldDataIsAcknowledgedWhenHandedOn(t *testing.T) {
	tests := []struct {
		name    string
		refuse  bool
		release func(t *testing.T, h *harness)
	}{
		{name: "dyed by a later batch", release: func(t *testing.T, h *harness) {
			newSource().deliver(t, func(ctx context.Context) error {
				return h.p.ConsumeTraces(ctx, traces(sp{svc: "order", trace: "t1", span: "p", attrs: map[string]any{"order_id": "ORD-1"}}))
			})
		}},
		{name: "wait expired", release: func(t *testing.T, h *harness) { h.advance(3 * time.Second) }},
		{name: "shutdown", release: func(t *testing.T, h *harness) { require.NoError(t, h.p.Shutdown(context.Background())) }},
		{name: "next consumer refuses", refuse: true, release: func(t *testing.T, h *harness) { h.advance(3 * time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
			spanSrc, logSrc := newSource(), newSource()
			spanSrc.deliver(t, func(ctx context.Context) error {
				return h.p.ConsumeTraces(ctx, traces(
					sp{svc: "inventory", trace: "t1", span: "a", parent: "p"},
					sp{svc: "payment", trace: "t1", span: "b", parent: "p"}))
			})
			logSrc.deliver(t, func(ctx context.Context) error {
				return h.p.ConsumeLogs(ctx, logs(lg{svc: "inventory", trace: "t1", span: "a", body: "reserved"}))
			})
			assert.False(t, spanSrc.done, "held spans are not acknowledged")
			assert.False(t, logSrc.done, "held logs are not acknowledged")

			if tt.refuse {
				refused := consumererror.NewPermanent(errors.New("queue full"))
				h.p.nextTraces, h.p.nextLogs = consumertest.NewErr(refused), consumertest.NewErr(refused)
			}
			tt.release(t, h)
			assert.True(t, spanSrc.done)
			assert.True(t, logSrc.done)
			assert.Equal(t, tt.refuse, spanSrc.failed)
			assert.Equal(t, tt.refuse, logSrc.failed)
		})
	}
}

// TestPassedDataNeedsNoAcknowledgement: data biz_dye hands on in the call
// keeps no reference.
func TestPassedDataNeedsNoAcknowledgement(t *testing.T) {
	h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
	s := newSource()
	s.deliver(t, func(ctx context.Context) error {
		return h.p.ConsumeTraces(ctx, traces(sp{svc: "order", trace: "t1", span: "p", attrs: map[string]any{"order_id": "ORD-1"}}))
	})
	assert.True(t, s.done)
	assert.False(t, s.failed)
}
