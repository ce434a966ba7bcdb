package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestGrafanaProvisioning parses docker/'s Grafana provisioning and
// dashboards: every dashboard is valid JSON with unique panel ids, every
// datasource a panel uses is provisioned, the Loki -> Jaeger and Jaeger ->
// Loki jumps are there, and every otelcol_* metric a dashboard queries is
// declared by one of our components (metadata.yaml), so a rename breaks this
// test instead of a dashboard.
func TestGrafanaProvisioning(t *testing.T) {
	root := repoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "docker", "grafana", "provisioning", "datasources", "datasources.yaml"))
	require.NoError(t, err)
	var prov struct {
		Datasources []struct {
			UID      string         `json:"uid"`
			Type     string         `json:"type"`
			JSONData map[string]any `json:"jsonData"`
		} `json:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &prov))
	uids := map[string]map[string]any{}
	for _, ds := range prov.Datasources {
		uids[ds.UID] = ds.JSONData
	}
	for _, uid := range []string{"prometheus", "loki", "jaeger"} {
		require.Contains(t, uids, uid)
	}
	derived, _ := uids["loki"]["derivedFields"].([]any)
	require.Len(t, derived, 1)
	assert.Equal(t, "jaeger", derived[0].(map[string]any)["datasourceUid"], "Loki trace_id -> Jaeger")
	t2l, _ := uids["jaeger"]["tracesToLogsV2"].(map[string]any)
	require.NotNil(t, t2l)
	assert.Equal(t, "loki", t2l["datasourceUid"], "Jaeger -> Loki")

	declared := declaredMetrics(t, root)
	metricRef := regexp.MustCompile(`otelcol_processor_[a-z_]+`)
	dashboards, err := filepath.Glob(filepath.Join(root, "docker", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.Len(t, dashboards, 3, "dye coverage, broken hops, root cause")
	for _, path := range dashboards {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			var d struct {
				UID    string `json:"uid"`
				Panels []struct {
					ID         int `json:"id"`
					Datasource struct {
						UID string `json:"uid"`
					} `json:"datasource"`
					Targets []struct {
						Expr string `json:"expr"`
					} `json:"targets"`
				} `json:"panels"`
			}
			require.NoError(t, json.Unmarshal(b, &d))
			require.NotEmpty(t, d.UID)
			ids := map[int]bool{}
			for _, p := range d.Panels {
				assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
				ids[p.ID] = true
				assert.Contains(t, uids, p.Datasource.UID)
				for _, tg := range p.Targets {
					require.NotEmpty(t, tg.Expr)
					for _, m := range metricRef.FindAllString(tg.Expr, -1) {
						if m == "otelcol_processor_outgoing_items" {
							continue // processorhelper's own
						}
						assert.True(t, declared[m], "%s queries %s, which no metadata.yaml declares", filepath.Base(path), m)
					}
				}
			}
		})
	}
}

// declaredMetrics: "otelcol_" + every telemetry metric in our metadata.yaml files.
func declaredMetrics(t *testing.T, root string) map[string]bool {
	files, err := filepath.Glob(filepath.Join(root, "*", "*", "metadata.yaml"))
	require.NoError(t, err)
	out := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var md struct {
			Telemetry struct {
				Metrics map[string]any `json:"metrics"`
			} `json:"telemetry"`
		}
		require.NoError(t, yaml.Unmarshal(b, &md), f)
		for name := range md.Telemetry.Metrics {
			out["otelcol_"+strings.TrimSpace(name)] = true
		}
	}
	require.NotEmpty(t, out)
	return out
}
