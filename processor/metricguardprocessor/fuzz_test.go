package metricguardprocessor

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor/internal/metadata"
)

// FuzzGuardedPrometheus feeds histogram points built from fuzz input through
// metric_guard into a real Prometheus exporter: whatever passes the guard,
// the exporter must take without panicking.
func FuzzGuardedPrometheus(f *testing.F) {
	f.Add([]byte{3, 4, 1, 2, 3, 0, 1, 0, 0}, []byte{3, 1, 1, 2, 3, 1})
	f.Add([]byte{2, 3, 1, 2, 1, 1, 1}, []byte{2, 3, 2, 1, 1, 1, 1})

	exp, _ := startPrometheus(f)
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), &Config{MaxBuckets: 16}, exp)
	require.NoError(f, err)

	n := 0
	f.Fuzz(func(t *testing.T, first, second []byte) {
		for _, in := range [][]byte{first, second} {
			n++
			require.NoError(t, p.ConsumeMetrics(context.Background(), histogramFrom(n, in)))
		}
	})
}

// histogramFrom reads [bounds count, counts count, bounds..., counts...]
// (one byte each; a bound byte 255 is NaN, 254 +Inf; then 8 bytes of count,
// which need not add up) as a delta point of "latency" for interval n.
func histogramFrom(n int, in []byte) pmetric.Metrics {
	next := func() byte {
		if len(in) == 0 {
			return 0
		}
		b := in[0]
		in = in[1:]
		return b
	}
	nb, nc := int(next()%24), int(next()%24)
	bounds, counts := make([]float64, nb), make([]uint64, nc)
	var total uint64
	for i := range bounds {
		switch b := next(); b {
		case 255:
			bounds[i] = math.NaN()
		case 254:
			bounds[i] = math.Inf(1)
		default:
			bounds[i] = float64(b)
		}
	}
	for i := range counts {
		counts[i] = uint64(next())
		total += counts[i]
	}
	if len(in) >= 8 { // a count that may not add up
		total = binary.LittleEndian.Uint64(in)
	}
	return histogramAt(n, bounds, counts, total)
}
