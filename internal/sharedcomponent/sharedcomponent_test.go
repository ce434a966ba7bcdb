package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type counting struct {
	starts, stops int
}

func (c *counting) Start(context.Context, component.Host) error { c.starts++; return nil }
func (c *counting) Shutdown(context.Context) error              { c.stops++; return nil }

func TestStartAndShutdownOnce(t *testing.T) {
	m := NewMap[string, *counting]()
	created := 0
	create := func() (*counting, error) { created++; return &counting{}, nil }
	a, err := m.LoadOrStore("id", create)
	require.NoError(t, err)
	b, err := m.LoadOrStore("id", create)
	require.NoError(t, err)
	assert.Same(t, a, b)
	assert.Equal(t, 1, created)

	for _, c := range []*Component[*counting]{a, b} {
		require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	}
	for _, c := range []*Component[*counting]{a, b} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
	assert.Equal(t, 1, a.Unwrap().starts)
	assert.Equal(t, 1, a.Unwrap().stops)
	assert.Equal(t, 0, m.Len(), "a shut down instance is forgotten")

	c, err := m.LoadOrStore("id", create)
	require.NoError(t, err)
	assert.NotSame(t, a, c, "after shutdown the id gets a new instance")
}

func TestCreateError(t *testing.T) {
	m := NewMap[string, *counting]()
	_, err := m.LoadOrStore("id", func() (*counting, error) { return nil, errors.New("boom") })
	require.EqualError(t, err, "boom")
	assert.Equal(t, 0, m.Len())
}
