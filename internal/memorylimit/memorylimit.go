// Package memorylimit sets Go's soft memory limit from the collector's
// memory_limiter setting, so the garbage collector works harder as the heap
// nears the limit instead of letting memory_limiter refuse data first.
package memorylimit // import "github.com/otelcol-biz/otelcol-biz/internal/memorylimit"

import (
	"fmt"
	"strconv"
)

// Env is the memory_limiter's limit_mib in every config/ file.
const Env = "BIZ_MEMORY_LIMIT_MIB"

// Apply sets the limit to BIZ_MEMORY_LIMIT_MIB when the user set it and not
// GOMEMLIMIT (which wins); it returns a message for a value it cannot use.
func Apply(getenv func(string) string, setLimit func(int64) int64) string {
	v := getenv(Env)
	if v == "" || getenv("GOMEMLIMIT") != "" {
		return ""
	}
	mib, err := strconv.ParseInt(v, 10, 64)
	if err != nil || mib <= 0 || mib > 1<<30 {
		return fmt.Sprintf("%s=%q is not a positive number of MiB; GOMEMLIMIT not set", Env, v)
	}
	setLimit(mib << 20)
	return ""
}
