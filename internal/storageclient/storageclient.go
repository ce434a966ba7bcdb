// Package storageclient gets a component's client of a configured storage
// extension (file_storage), the way contrib components do.
package storageclient // import "github.com/otelcol-biz/otelcol-biz/internal/storageclient"

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Get returns the client of extension id for component self (of kind),
// or an error naming the `storage` key when id is not a storage extension
// of host.
func Get(ctx context.Context, host component.Host, id component.ID, kind component.Kind, self component.ID) (storage.Client, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("'storage' extension %q is not configured", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("'storage' extension %q is not a storage extension", id)
	}
	client, err := se.GetClient(ctx, kind, self, "")
	if err != nil {
		return nil, fmt.Errorf("'storage' extension %q: %w", id, err)
	}
	return client, nil
}
