// Package memorylimit sets Go's soft memory limit from the collector's
// memory_limiter setting, so the garbage collector works harder as the heap
// nears the limit instead of letting memory_limiter refuse data first.
package memorylimit // import "github.com/otelcol-biz/otelcol-biz/internal/memorylimit"

import (
	"fmt"
	"strconv"
)

// Env is the memory_limiter's limit_mib in every config/ file, SpikeEnv its
// spike_limit_mib.
const (
	Env      = "BIZ_MEMORY_LIMIT_MIB"
	SpikeEnv = "BIZ_MEMORY_SPIKE_MIB"
)

// Apply sets the limit when the user set BIZ_MEMORY_LIMIT_MIB and not
// GOMEMLIMIT (which wins): to the memory_limiter's soft limit, limit minus
// BIZ_MEMORY_SPIKE_MIB when that is set and smaller, else to the limit. The
// collector then collects garbage hard before memory_limiter refuses data,
// and the process's RSS (heap plus runtime overhead) stays under the limit:
// a gateway on a Kafka backlog with a 400 MiB limit peaked at 430 MiB RSS
// with GOMEMLIMIT at the limit, 396-404 MiB at the soft limit (320), 353-360
// MiB with biz_dye's hold also sized for it (TestGatewayOverload). It returns a message for a value it cannot
// use.
func Apply(getenv func(string) string, setLimit func(int64) int64) string {
	v := getenv(Env)
	if v == "" || getenv("GOMEMLIMIT") != "" {
		return ""
	}
	mib, err := strconv.ParseInt(v, 10, 64)
	if err != nil || mib <= 0 || mib > 1<<30 {
		return fmt.Sprintf("%s=%q is not a positive number of MiB; GOMEMLIMIT not set", Env, v)
	}
	if spike, err := strconv.ParseInt(getenv(SpikeEnv), 10, 64); err == nil && spike > 0 && spike < mib {
		mib -= spike
	}
	setLimit(mib << 20)
	return ""
}
