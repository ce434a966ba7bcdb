package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// podLogFile is one container's log as the kubelet lays it out under
// /var/log/pods, written in one runtime's format.
type podLogFile struct {
	namespace, pod, uid, container string
	format                         string // containerd, crio or docker
	dir                            string
}

func (f *podLogFile) path() string { return filepath.Join(f.dir, "0.log") }

// write appends lines n..n+count-1. Each line names its pod and number and
// carries a trace id and span id derived from them (key_value layout, as
// log4j2 with the OTel agent writes). Line n+1 of containerd files is split
// into a partial (P) and a final (F) piece, which the parser joins.
func (f *podLogFile) write(t *testing.T, n, count int) {
	t.Helper()
	file, err := os.OpenFile(f.path(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	defer file.Close()
	for i := n; i < n+count; i++ {
		tid, sid := podLineIDs(f.pod, i)
		msg := fmt.Sprintf("line %s %d trace_id=%s span_id=%s msg=order placed", f.pod, i, tid, sid)
		ts := time.Now().UTC()
		var out string
		switch f.format {
		case "containerd":
			stamp := ts.Format("2006-01-02T15:04:05.000000000Z07:00")
			if i == n+1 {
				half := len(msg) / 2
				out = fmt.Sprintf("%s stdout P %s\n%s stdout F %s\n", stamp, msg[:half], stamp, msg[half:])
			} else {
				out = fmt.Sprintf("%s stdout F %s\n", stamp, msg)
			}
		case "crio":
			out = fmt.Sprintf("%s stderr F %s\n", ts.Format("2006-01-02T15:04:05.000000000-07:00"), msg) // +00:00, not Z
		case "docker":
			out = fmt.Sprintf(`{"log":%q,"stream":"stdout","time":%q}`+"\n", msg+"\n", ts.Format(time.RFC3339Nano))
		}
		_, err := file.WriteString(out)
		require.NoError(t, err)
	}
}

// rotate does what the kubelet does: rename 0.log to 0.log.<timestamp>; the
// runtime's next write creates a new 0.log.
func (f *podLogFile) rotate(t *testing.T) {
	t.Helper()
	require.NoError(t, os.Rename(f.path(), f.path()+"."+time.Now().UTC().Format("20060102-150405")))
}

func podLineIDs(pod string, n int) (trace, span string) {
	h := uint64(0)
	for _, c := range pod {
		h = h*31 + uint64(c)
	}
	return fmt.Sprintf("%016x%016x", h, uint64(n)+1), fmt.Sprintf("%016x", uint64(n)+1)
}

// podLogSeen is what the Loki stand-in received of one pod's lines.
type podLogSeen struct {
	count      map[int]int
	badIDs     []string
	badK8s     []string
	foreign    int // lines of the agent's own pod
	unparsable []string
}

// TestPodLogsAgentToGateway runs the agent's file_log receiver over a folder
// laid out like /var/log/pods (containerd, CRI-O and docker formats, a partial
// line, a rotation, an agent restart with lines written while it was down)
// -> Kafka -> gateway -> OTLP logs: every line arrives exactly once, its trace
// and span ids extracted by log_correlation, its k8s attributes taken from
// the file path; the agent's own pod is not read.
func TestPodLogsAgentToGateway(t *testing.T) {
	seen := map[string]*podLogSeen{}
	files := []*podLogFile{
		{namespace: "shop", pod: "checkout-7d9f8-x2x9q", uid: "0c8a3b1e-1111-4a5b-9c0d-000000000001", container: "checkout", format: "containerd"},
		{namespace: "shop", pod: "payment-5b6c7-k4k2m", uid: "0c8a3b1e-2222-4a5b-9c0d-000000000002", container: "payment", format: "crio"},
		{namespace: "legacy", pod: "inventory-0", uid: "0c8a3b1e-3333-4a5b-9c0d-000000000003", container: "inventory", format: "docker"},
	}
	own := &podLogFile{namespace: "otelcol-biz", pod: "otelcol-biz-agent-q7w2z", uid: "0c8a3b1e-4444-4a5b-9c0d-000000000004", container: "agent", format: "containerd"}
	byPod := map[string]*podLogFile{}
	for _, f := range append(files, own) {
		byPod[f.pod] = f
		seen[f.pod] = &podLogSeen{count: map[int]int{}}
	}

	rec := startLogRecorder(t, func(ld plog.Logs) {
		for _, rl := range ld.ResourceLogs().All() {
			res := rl.Resource().Attributes()
			for _, sl := range rl.ScopeLogs().All() {
				for _, r := range sl.LogRecords().All() {
					var pod string
					var n int
					if _, err := fmt.Sscanf(r.Body().AsString(), "line %s %d", &pod, &n); err != nil || seen[pod] == nil {
						seen[own.pod].unparsable = append(seen[own.pod].unparsable, r.Body().AsString())
						continue
					}
					s, f := seen[pod], byPod[pod]
					if f == own {
						s.foreign++
						continue
					}
					s.count[n]++
					tid, sid := podLineIDs(pod, n)
					if r.TraceID().String() != tid || r.SpanID().String() != sid {
						s.badIDs = append(s.badIDs, fmt.Sprintf("line %d: trace %s span %s", n, r.TraceID(), r.SpanID()))
					}
					want := map[string]string{"k8s.namespace.name": f.namespace, "k8s.pod.name": f.pod, "k8s.pod.uid": f.uid, "k8s.container.name": f.container}
					for k, v := range want {
						if got, ok := res.Get(k); !ok || got.AsString() != v {
							s.badK8s = append(s.badK8s, fmt.Sprintf("line %d: %s=%v", n, k, res.AsRaw()[k]))
						}
					}
				}
			}
		}
	})

	st := &reliabilityStack{kafka: startKafka(t), jaeger: startSpanSink(t), loki: rec.url,
		agentGRPC: freeAddr(t), agentDir: t.TempDir(), agentHealth: freeAddr(t),
		agentEnv: []string{"K8S_POD_NAMESPACE=" + own.namespace, "K8S_POD_NAME=" + own.pod}}
	for _, f := range append(files, own) {
		f.dir = filepath.Join(st.agentDir, "pods", f.namespace+"_"+f.pod+"_"+f.uid, f.container)
		require.NoError(t, os.MkdirAll(f.dir, 0o755))
	}
	written := map[string]int{}
	write := func(count int) {
		for _, f := range append(files, own) {
			f.write(t, written[f.pod], count)
			written[f.pod] += count
		}
	}

	write(100) // before the agent's first start: read from the beginning
	st.gateway(t, 0)
	agent := st.agent(t)
	write(100)

	// the kubelet rotates checkout's log; the runtime writes on in a new 0.log
	files[0].rotate(t)
	write(100)

	// the agent restarts; lines written while it is down are read once after
	agent.stop(t)
	write(100)
	st.agent(t)
	write(100)

	waitPodLines(t, rec, seen, files, written)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Empty(t, seen[own.pod].unparsable, "records the test did not write")
	assert.Zero(t, seen[own.pod].foreign, "the agent read its own pod's log")
	for _, f := range files {
		s := seen[f.pod]
		lost, dup := 0, 0
		for i := 0; i < written[f.pod]; i++ {
			switch c := s.count[i]; {
			case c == 0:
				lost++
			case c > 1:
				dup += c - 1
			}
		}
		t.Logf("%s (%s): lines written %d, lost %d, duplicated %d", f.pod, f.format, written[f.pod], lost, dup)
		assert.Zero(t, lost, f.pod)
		assert.Zero(t, dup, f.pod)
		assert.Empty(t, s.badIDs, "trace/span ids of %s", f.pod)
		assert.Empty(t, s.badK8s, "k8s attributes of %s", f.pod)
	}
}

// waitPodLines waits (bounded) until every written line of files arrived.
func waitPodLines(t *testing.T, rec *logRecorder, seen map[string]*podLogSeen, files []*podLogFile, written map[string]int) {
	t.Helper()
	assert.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, f := range files {
			for i := 0; i < written[f.pod]; i++ {
				if seen[f.pod].count[i] == 0 {
					return false
				}
			}
		}
		return true
	}, 120*time.Second, 500*time.Millisecond)
	time.Sleep(3 * time.Second) // duplicates would arrive after the last first copy
}
