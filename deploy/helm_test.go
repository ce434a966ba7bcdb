package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// helmValues are the values files for the official opentelemetry-collector
// chart, and the kustomize workload each must deploy the same way.
var helmValues = []struct {
	file string
	role string
	mode string
}{
	{file: "deploy/helm/agent-values.yaml", role: "agent", mode: "daemonset"},
	{file: "deploy/helm/gateway-values.yaml", role: "gateway", mode: "statefulset"},
}

var (
	chartRe     = regexp.MustCompile(`(?m)^# chart: open-telemetry/opentelemetry-collector (\d+\.\d+\.\d+)$`)
	fromFileRe  = regexp.MustCompile(`--from-file=relay=(config/[a-z-]+\.yaml)`)
	helmVersion = regexp.MustCompile(`--version (\d+\.\d+\.\d+)`)
)

// helmFile is a values file, its chart version and the config it mounts.
type helmFile struct {
	raw     []byte
	values  map[string]any
	version string
	config  string // the config/ file its ConfigMap is created from
}

func readHelmFile(t *testing.T, rel string) helmFile {
	t.Helper()
	h := helmFile{raw: readRepoFile(t, rel)}
	m := chartRe.FindSubmatch(h.raw)
	require.NotNil(t, m, "%s: first lines must name the chart version (# chart: open-telemetry/opentelemetry-collector X.Y.Z)", rel)
	h.version = string(m[1])
	for _, v := range helmVersion.FindAllSubmatch(h.raw, -1) {
		assert.Equal(t, h.version, string(v[1]), "%s: the helm install command's --version", rel)
	}
	c := fromFileRe.FindSubmatch(h.raw)
	require.NotNil(t, c, "%s: its header must show the ConfigMap it mounts (--from-file=relay=config/...)", rel)
	h.config = string(c[1])
	require.NoError(t, yaml.Unmarshal(h.raw, &h.values), rel)
	return h
}

func compileSchema(t *testing.T, version string) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	p := filepath.Join(repoRoot(), "deploy", "helm", "testdata", "opentelemetry-collector-"+version+".values.schema.json")
	f, err := os.Open(p)
	require.NoError(t, err, "embed the chart's values.schema.json for version %s", version)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("values.schema.json", doc))
	sch, err := c.Compile("values.schema.json")
	require.NoError(t, err)
	props, _ := doc.(map[string]any)["properties"].(map[string]any)
	require.NotEmpty(t, props)
	return sch, props
}

// asSchemaValue turns YAML-decoded values into what the validator takes.
func asSchemaValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return out
}

// TestHelmValuesMatchChartSchema: the values files only use keys of the
// chart version they name, with the types it takes.
func TestHelmValuesMatchChartSchema(t *testing.T) {
	for _, hv := range helmValues {
		t.Run(filepath.Base(hv.file), func(t *testing.T) {
			h := readHelmFile(t, hv.file)
			sch, props := compileSchema(t, h.version)
			require.NoError(t, sch.Validate(asSchemaValue(t, h.values)))
			// nested objects may allow any key; the top level must not
			for _, k := range sortedKeys(h.values) {
				assert.Contains(t, props, k, "%s: %q is not a value of chart %s", hv.file, k, h.version)
			}
			assert.Equal(t, hv.mode, h.values["mode"])
		})
	}
	t.Run("the schema rejects", func(t *testing.T) {
		h := readHelmFile(t, helmValues[0].file)
		sch, _ := compileSchema(t, h.version)
		for name, mutate := range map[string]func(map[string]any){
			"an unknown top-level key": func(v map[string]any) { v["persistence"] = map[string]any{"enabled": true} },
			"an unknown mode":          func(v map[string]any) { v["mode"] = "job" },
			"an unknown image key":     func(v map[string]any) { v["image"].(map[string]any)["version"] = "1" },
			"a port without enabled":   func(v map[string]any) { v["ports"].(map[string]any)["x"] = map[string]any{"containerPort": 1} },
			"a preset typo": func(v map[string]any) {
				v["presets"].(map[string]any)["logCollection"] = map[string]any{"enabled": true}
			},
			"a wrong type (replicaCount)":   func(v map[string]any) { v["replicaCount"] = "3" },
			"an unknown probe key (typo'd)": func(v map[string]any) { v["livenessProbe"].(map[string]any)["httpget"] = map[string]any{} },
		} {
			var v map[string]any
			require.NoError(t, yaml.Unmarshal(h.raw, &v))
			mutate(v)
			assert.Error(t, sch.Validate(asSchemaValue(t, v)), name)
		}
	})
}

// TestHelmValuesMatchManifests: the Helm values deploy what the kustomize
// base deploys: image binary, config file, env, resources, security,
// volumes, ports, probes, RBAC and the gateway's scaling.
func TestHelmValuesMatchManifests(t *testing.T) {
	image := parseDockerfile(t)
	r := render(t, overlays[0].dir)
	agent, gateway := r.workloads(t)
	roles := map[string]workload{"agent": agent, "gateway": gateway}
	agentName := ""
	for _, hv := range helmValues {
		t.Run(filepath.Base(hv.file), func(t *testing.T) {
			h := readHelmFile(t, hv.file)
			w := roles[hv.role]
			v := h.values
			var spec struct {
				Command struct {
					Name string `json:"name"`
				} `json:"command"`
				NameOverride string `json:"nameOverride"`
				ConfigMap    struct {
					Create       bool   `json:"create"`
					ExistingName string `json:"existingName"`
				} `json:"configMap"`
				Presets            map[string]map[string]any   `json:"presets"`
				UseGOMEMLIMIT      bool                        `json:"useGOMEMLIMIT"`
				ExtraEnvs          []corev1.EnvVar             `json:"extraEnvs"`
				Resources          corev1.ResourceRequirements `json:"resources"`
				SecurityContext    corev1.SecurityContext      `json:"securityContext"`
				PodSecurityContext corev1.PodSecurityContext   `json:"podSecurityContext"`
				Tolerations        []corev1.Toleration         `json:"tolerations"`
				ExtraVolumes       []corev1.Volume             `json:"extraVolumes"`
				ExtraVolumeMounts  []corev1.VolumeMount        `json:"extraVolumeMounts"`
				Ports              map[string]struct {
					Enabled       bool   `json:"enabled"`
					ContainerPort int32  `json:"containerPort"`
					HostPort      int32  `json:"hostPort"`
					Protocol      string `json:"protocol"`
				} `json:"ports"`
				LivenessProbe  helmProbe `json:"livenessProbe"`
				ReadinessProbe helmProbe `json:"readinessProbe"`
				ClusterRole    struct {
					Create bool       `json:"create"`
					Rules  []rbacRule `json:"rules"`
				} `json:"clusterRole"`
				Statefulset struct {
					VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates"`
				} `json:"statefulset"`
				Autoscaling struct {
					Enabled     bool  `json:"enabled"`
					MinReplicas int32 `json:"minReplicas"`
					MaxReplicas int32 `json:"maxReplicas"`
				} `json:"autoscaling"`
				PodDisruptionBudget struct {
					Enabled        bool `json:"enabled"`
					MaxUnavailable int  `json:"maxUnavailable"`
				} `json:"podDisruptionBudget"`
				NetworkPolicy struct {
					Enabled          bool `json:"enabled"`
					AllowIngressFrom []struct {
						PodSelector struct {
							MatchLabels map[string]string `json:"matchLabels"`
						} `json:"podSelector"`
					} `json:"allowIngressFrom"`
				} `json:"networkPolicy"`
			}
			b, err := json.Marshal(v)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &spec))

			// the chart runs /<command.name> --config=/conf/relay.yaml
			assert.Equal(t, image.entrypoint[0], "/"+spec.Command.Name, "the image's binary (docker/Dockerfile ENTRYPOINT)")
			assert.False(t, spec.ConfigMap.Create, "our config, not the chart's")
			assert.NotEmpty(t, spec.ConfigMap.ExistingName)
			assert.Contains(t, string(h.raw), "create configmap "+spec.ConfigMap.ExistingName+" ", "the header creates the ConfigMap the values mount")
			assert.Equal(t, "config/"+r.configs(t, w)[0].key, h.config, "the same config file as the manifests")
			for name, p := range spec.Presets {
				assert.Equal(t, false, p["enabled"], "preset %s edits the chart's config, which is not used", name)
			}
			assert.False(t, spec.UseGOMEMLIMIT, "the chart's GOMEMLIMIT would override otelcol-biz's (BIZ_MEMORY_LIMIT_MIB - BIZ_MEMORY_SPIKE_MIB)")

			// env: the same as the manifest's (the chart names its container
			// itself, so resourceFieldRef names none)
			want := map[string]corev1.EnvVar{}
			for _, e := range w.container.Env {
				if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
					rf := *e.ValueFrom.ResourceFieldRef
					rf.ContainerName = ""
					e.ValueFrom = &corev1.EnvVarSource{ResourceFieldRef: &rf}
				}
				want[e.Name] = e
			}
			got := map[string]corev1.EnvVar{}
			for _, e := range spec.ExtraEnvs {
				got[e.Name] = e
			}
			assert.Equal(t, sortedKeys(want), sortedKeys(got), "env names")
			for k, e := range want {
				assert.True(t, equality.Semantic.DeepEqual(e, got[k]), "env %s: manifest %+v, helm %+v", k, e, got[k])
			}

			assert.True(t, equality.Semantic.DeepEqual(w.container.Resources, spec.Resources), "resources")
			sc := w.container.SecurityContext.DeepCopy()
			if sc.SeccompProfile != nil && spec.SecurityContext.SeccompProfile == nil {
				assert.Equal(t, sc.SeccompProfile, spec.PodSecurityContext.SeccompProfile, "seccomp")
				sc.SeccompProfile = nil
			}
			assert.Equal(t, *sc, spec.SecurityContext, "securityContext")
			if ps := w.pod.Spec.SecurityContext; ps != nil {
				assert.Equal(t, ps.RunAsNonRoot, spec.PodSecurityContext.RunAsNonRoot)
				assert.Equal(t, ps.FSGroup, spec.PodSecurityContext.FSGroup)
			}
			assert.Equal(t, w.pod.Spec.Tolerations, spec.Tolerations, "tolerations")

			// volumes other than the config, the same
			for _, m := range w.container.VolumeMounts {
				if m.MountPath == configDir {
					continue
				}
				i := slices.IndexFunc(spec.ExtraVolumeMounts, func(x corev1.VolumeMount) bool { return x.MountPath == m.MountPath })
				if !assert.GreaterOrEqual(t, i, 0, "no mount at %s", m.MountPath) {
					continue
				}
				hm := spec.ExtraVolumeMounts[i]
				assert.Equal(t, m.ReadOnly, hm.ReadOnly, m.MountPath)
				if pv := volumeNamed(w.pod, m.Name); pv != nil {
					j := slices.IndexFunc(spec.ExtraVolumes, func(x corev1.Volume) bool { return x.Name == hm.Name })
					if assert.GreaterOrEqual(t, j, 0, "no volume %s", hm.Name) {
						assert.Equal(t, pv.VolumeSource, spec.ExtraVolumes[j].VolumeSource, m.MountPath)
					}
				} else {
					j := slices.IndexFunc(spec.Statefulset.VolumeClaimTemplates, func(x corev1.PersistentVolumeClaim) bool { return x.Name == hm.Name })
					if assert.GreaterOrEqual(t, j, 0, "no volumeClaimTemplate %s", hm.Name) {
						k := slices.IndexFunc(w.claims, func(x corev1.PersistentVolumeClaim) bool { return x.Name == m.Name })
						assert.Equal(t, w.claims[k].Spec, spec.Statefulset.VolumeClaimTemplates[j].Spec)
					}
				}
			}
			assert.Len(t, spec.ExtraVolumeMounts, len(w.container.VolumeMounts)-1)

			// ports: the same numbers (the chart's own ones disabled)
			var helmPorts, kPorts []int32
			for name, p := range spec.Ports {
				if !p.Enabled {
					continue
				}
				helmPorts = append(helmPorts, p.ContainerPort)
				i := slices.IndexFunc(w.container.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == p.ContainerPort })
				if assert.GreaterOrEqual(t, i, 0, "port %s", name) {
					assert.Equal(t, w.container.Ports[i].HostPort, p.HostPort, "port %s hostPort", name)
				}
			}
			health := containerPort(w.container, "health")
			require.NotNil(t, health)
			for _, cp := range w.container.Ports {
				if cp.Name != "health" { // probed by number in the chart
					kPorts = append(kPorts, cp.ContainerPort)
				}
			}
			slices.Sort(helmPorts)
			slices.Sort(kPorts)
			assert.Equal(t, kPorts, helmPorts, "enabled ports")
			for name, pr := range map[string]helmProbe{"liveness": spec.LivenessProbe, "readiness": spec.ReadinessProbe} {
				kp := w.container.LivenessProbe
				if name == "readiness" {
					kp = w.container.ReadinessProbe
				}
				assert.Equal(t, kp.HTTPGet.Path, pr.HTTPGet.Path, name)
				assert.Equal(t, health.ContainerPort, pr.HTTPGet.Port, name)
			}

			switch hv.role {
			case "agent":
				agentName = spec.NameOverride
				assert.True(t, spec.ClusterRole.Create)
				var want []rbacRule
				for _, rule := range agentRules(t, r, w) {
					want = append(want, rbacRule{APIGroups: rule.APIGroups, Resources: rule.Resources, Verbs: rule.Verbs})
				}
				assert.Equal(t, want, spec.ClusterRole.Rules, "clusterRole.rules vs the kustomize ClusterRole")
			case "gateway":
				assert.False(t, spec.ClusterRole.Create)
				hpa := r.hpas[0]
				assert.True(t, spec.Autoscaling.Enabled)
				assert.Equal(t, *hpa.Spec.MinReplicas, spec.Autoscaling.MinReplicas)
				assert.Equal(t, hpa.Spec.MaxReplicas, spec.Autoscaling.MaxReplicas)
				assert.True(t, spec.PodDisruptionBudget.Enabled)
				assert.Equal(t, r.pdbs[0].Spec.MaxUnavailable.IntValue(), spec.PodDisruptionBudget.MaxUnavailable)
				assert.True(t, spec.NetworkPolicy.Enabled)
				require.Len(t, spec.NetworkPolicy.AllowIngressFrom, 1)
				sel := spec.NetworkPolicy.AllowIngressFrom[0].PodSelector.MatchLabels
				require.NotEmpty(t, agentName)
				// the chart's labels of the agent release (agent-values.yaml)
				assert.Equal(t, map[string]string{"app.kubernetes.io/name": agentName, "component": "agent-collector"}, sel)
			}
		})
	}
}

type helmProbe struct {
	HTTPGet struct {
		Path string `json:"path"`
		Port int32  `json:"port"`
	} `json:"httpGet"`
}

type rbacRule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}
