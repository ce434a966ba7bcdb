package memorylimit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    int64 // -1: not set
		wantMsg string
	}{
		{name: "unset", env: map[string]string{}, want: -1},
		{name: "from the limit", env: map[string]string{"BIZ_MEMORY_LIMIT_MIB": "512"}, want: 512 << 20},
		{name: "the soft limit: limit minus spike", env: map[string]string{"BIZ_MEMORY_LIMIT_MIB": "512", "BIZ_MEMORY_SPIKE_MIB": "128"}, want: 384 << 20},
		{name: "a spike not below the limit is ignored", env: map[string]string{"BIZ_MEMORY_LIMIT_MIB": "512", "BIZ_MEMORY_SPIKE_MIB": "512"}, want: 512 << 20},
		{name: "GOMEMLIMIT wins", env: map[string]string{"BIZ_MEMORY_LIMIT_MIB": "512", "GOMEMLIMIT": "1GiB"}, want: -1},
		{name: "not a number", env: map[string]string{"BIZ_MEMORY_LIMIT_MIB": "512Mi"}, want: -1, wantMsg: `BIZ_MEMORY_LIMIT_MIB="512Mi" is not a positive number of MiB`},
		{name: "zero", env: map[string]string{"BIZ_MEMORY_LIMIT_MIB": "0"}, want: -1, wantMsg: "not a positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := int64(-1)
			msg := Apply(func(k string) string { return tt.env[k] }, func(v int64) int64 { got = v; return 0 })
			assert.Equal(t, tt.want, got)
			if tt.wantMsg == "" {
				assert.Empty(t, msg)
			} else {
				assert.Contains(t, msg, tt.wantMsg)
			}
		})
	}
}
