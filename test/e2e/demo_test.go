package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoShop drives a fixed number of orders of the demo shop (cmd/demo)
// through the whole stack with the Kafka header lost on every order, then
// checks through the backends' own APIs what a user would look at:
//   - Jaeger: a search by tag biz.order_id finds the order's flow in every
//     service, and the fulfilment trace split off by the lost header links
//     back to the order trace;
//   - Loki: inventory's plain-text log lines (ids only in the text) are found
//     by the order key and carry the order trace's id;
//   - Prometheus: the span-metrics latency histogram (bucket_tuner's
//     boundaries) answers histogram_quantile.
func TestDemoShop(t *testing.T) {
	st := startStack(t,
		"BIZ_SAMPLING_PERCENT=100",
		"BIZ_BUCKET_TUNER_LEARN_FOR=5s",
	)
	demo := buildDemo(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	shop := exec.CommandContext(ctx, demo, "-endpoint="+st.agentGRPC, "-orders=12", "-rate=6", "-seed=7", "-fault-lost-header")
	shop.Stdout, shop.Stderr = &stdout, &stderr
	require.NoError(t, shop.Run(), "demo shop: %s", stderr.String())

	orderLine := regexp.MustCompile(`^order (ORD-\d+) trace ([0-9a-f]{32}) status (\d+)`)
	type order struct{ id, trace string }
	var orders []order
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if m := orderLine.FindStringSubmatch(sc.Text()); m != nil && m[3] == "201" {
			orders = append(orders, order{id: m[1], trace: m[2]})
		}
	}
	require.GreaterOrEqual(t, len(orders), 10, "the shop placed its orders:\n%s", stdout.String())

	wantServices := []string{"gateway", "order", "inventory", "payment", "notification"}
	for _, o := range orders[len(orders)-3:] {
		var main, split []jaegerTrace
		require.Eventually(t, func() bool {
			main = jaegerSearch(t, st.jaegerQuery, "order", map[string]string{"biz.order_id": o.id})
			split = jaegerSearch(t, st.jaegerQuery, "fulfilment", map[string]string{"biz.order_id": o.id})
			return len(main) == 1 && len(split) == 1
		}, 90*time.Second, time.Second, "Jaeger: %s found in %d order / %d fulfilment traces", o.id, len(main), len(split))
		assert.Equal(t, o.trace, main[0].TraceID)
		var services []string
		for _, p := range main[0].Processes {
			services = append(services, p.ServiceName)
		}
		for _, svc := range wantServices {
			assert.True(t, slices.Contains(services, svc), "%s: no %s spans in the order trace (%v)", o.id, svc, services)
		}
		seen := map[string]int{}
		for _, s := range main[0].Spans {
			seen[s.SpanID]++
		}
		for id, n := range seen {
			assert.Equal(t, 1, n, "%s: span %s stored %d times", o.id, id, n)
		}
		assert.NotEqual(t, o.trace, split[0].TraceID, "the lost header split the flow")
		linked := false
		for _, s := range split[0].Spans {
			for _, ref := range s.References {
				linked = linked || ref.TraceID == o.trace
			}
		}
		assert.True(t, linked, "%s: the fulfilment trace links back to the order trace", o.id)

		query := fmt.Sprintf(`{service_name="inventory"} | biz_order_id=%q`, o.id)
		var streams []lokiStream
		require.Eventually(t, func() bool {
			streams = lokiQuery(t, st.loki, query)
			return len(streams) > 0
		}, 60*time.Second, time.Second, "Loki: %s", query)
		assert.Equal(t, o.trace, streams[0].Labels["trace_id"], "the text log line got its trace id from its own text")
	}

	q := `histogram_quantile(0.99, sum by (le) (traces_span_metrics_duration_seconds_bucket{service_name="payment",span_kind="SPAN_KIND_SERVER"}))`
	require.Eventually(t, func() bool {
		v := promQuery(t, st.prometheus, q)
		return len(v) == 1 && v[0] > 0
	}, 60*time.Second, time.Second, "Prometheus: %s", q)
}
