// Package sharedcomponent lets one component instance serve several
// pipelines (a traces and a logs pipeline using the same component id), as
// the collector's memory_limiter does: Start runs once, Shutdown runs once,
// and the instance is forgotten when it shuts down.
package sharedcomponent // import "github.com/otelcol-biz/otelcol-biz/internal/sharedcomponent"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances by key (usually the component.ID).
type Map[K comparable, V component.Component] struct {
	mu    sync.Mutex
	items map[K]*Component[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{items: map[K]*Component[V]{}}
}

// LoadOrStore returns the instance for key, creating it with create if absent.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.items[key]; ok {
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Component[V]{component: v}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.items[key] == c {
			delete(m.items, key)
		}
	}
	m.items[key] = c
	return c, nil
}

// Len returns the number of live instances.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// Component is one shared instance.
type Component[V component.Component] struct {
	component V
	startOnce sync.Once
	stopOnce  sync.Once
	remove    func()
}

// Unwrap returns the instance.
func (c *Component[V]) Unwrap() V { return c.component }

// Start starts the instance the first time it is called.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	var err error
	c.startOnce.Do(func() { err = c.component.Start(ctx, host) })
	return err
}

// Shutdown shuts the instance down the first time it is called and forgets it.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	var err error
	c.stopOnce.Do(func() {
		err = c.component.Shutdown(ctx)
		c.remove()
	})
	return err
}
