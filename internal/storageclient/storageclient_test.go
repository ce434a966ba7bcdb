package storageclient

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGet(t *testing.T) {
	ctx := context.Background()
	self := component.MustNewID("biz_dye")
	ext := storagetest.NewInMemoryStorageExtension("s")
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	c, err := Get(ctx, host, ext.ID, component.KindProcessor, self)
	require.NoError(t, err)
	require.NoError(t, c.Set(ctx, "k", []byte("v")))
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), v)
	require.NoError(t, c.Close(ctx))

	_, err = Get(ctx, componenttest.NewNopHost(), ext.ID, component.KindProcessor, self)
	assert.ErrorContains(t, err, "'storage' extension")
	nonStorage := storagetest.NewNonStorageExtension("n")
	_, err = Get(ctx, storagetest.NewStorageHost().WithExtension(nonStorage.ID, nonStorage), nonStorage.ID, component.KindProcessor, self)
	assert.ErrorContains(t, err, "is not a storage extension")
}
