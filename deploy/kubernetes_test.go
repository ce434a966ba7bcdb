package deploy

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// kustomizationNames are the file names kustomize reads as a kustomization.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// TestStrictDecodingRejects makes sure the decoders used below do reject what
// they must (a typo'd field would otherwise be dropped by the API server
// without a word).
func TestStrictDecodingRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{name: "unknown field", wantErr: `unknown field "spec.template.spec.containers[0].securityContex"`, doc: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i, securityContex: {}}]
`},
		{name: "duplicate field", wantErr: `key "name" already set in map`, doc: `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: a
  name: b
`},
		{name: "unknown kind", wantErr: `no kind "DeamonSet"`, doc: `
apiVersion: apps/v1
kind: DeamonSet
metadata: {name: x}
`},
		{name: "valid", doc: `
apiVersion: v1
kind: ServiceAccount
metadata: {name: a}
automountServiceAccountToken: false
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeStrict([]byte(tt.doc))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	var k types.Kustomization
	require.ErrorContains(t, yaml.UnmarshalStrict([]byte("resources: [a.yaml]\npatchesStrategicMerge2: []\n"), &k), "unknown field")
}

// TestManifestFilesDecodeStrictly reads every YAML file under
// deploy/kubernetes (and config/'s kustomization): kustomizations decode
// strictly into kustomize's Kustomization, generator inputs are skipped
// (they are collector configs, checked elsewhere), and every document of
// every other file decodes strictly into its typed Kubernetes object and is
// used by a kustomization (as a resource or a patch).
func TestManifestFilesDecodeStrictly(t *testing.T) {
	root := repoRoot()
	var files []string
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "deploy", "kubernetes"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || d.Name() == "Kustomization" {
			files = append(files, p)
		} else {
			t.Errorf("%s: only YAML belongs under deploy/kubernetes", p)
		}
		return nil
	}))
	files = append(files, filepath.Join(root, "config", "kustomization.yml"))

	used := map[string]string{}      // file -> how a kustomization uses it
	generated := map[string]string{} // generator input -> kustomization
	for _, f := range files {
		if !slices.Contains(kustomizationNames, filepath.Base(f)) {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var k types.Kustomization
		require.NoError(t, yaml.UnmarshalStrict(data, &k), f)
		require.Equal(t, "kustomize.config.k8s.io/v1beta1", k.APIVersion, f)
		require.Equal(t, "Kustomization", k.Kind, f)
		dir := filepath.Dir(f)
		for _, r := range k.Resources {
			p := filepath.Join(dir, r)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				found := false
				for _, n := range kustomizationNames {
					if _, err := os.Stat(filepath.Join(p, n)); err == nil {
						found = true
					}
				}
				require.True(t, found, "%s: resource %s is a folder without a kustomization", f, r)
				continue
			}
			require.FileExists(t, p, "%s: resource %s", f, r)
			used[p] = "resource of " + f
		}
		for _, pt := range k.Patches {
			require.NotEmpty(t, pt.Path, "%s: inline patches cannot be checked here; use a file", f)
			require.FileExists(t, filepath.Join(dir, pt.Path))
			used[filepath.Join(dir, pt.Path)] = "patch of " + f
		}
		for _, g := range k.ConfigMapGenerator {
			for _, src := range g.FileSources {
				_, file, ok := strings.Cut(src, "=")
				if !ok {
					file = src
				}
				p := filepath.Join(dir, file)
				require.FileExists(t, p, "%s: configMapGenerator file", f)
				generated[p] = f
			}
		}
		require.Empty(t, k.PatchesStrategicMerge, "%s: use patches:", f)      //nolint:staticcheck // checking that the deprecated field stays unused
		require.Empty(t, k.PatchesJson6902, "%s: use patches: with files", f) //nolint:staticcheck // idem
	}

	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		if slices.Contains(kustomizationNames, filepath.Base(f)) {
			continue
		}
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			if _, ok := generated[f]; ok {
				return
			}
			require.Contains(t, used, f, "no kustomization uses this file")
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			docs, err := splitYAML(data)
			require.NoError(t, err)
			require.NotEmpty(t, docs)
			for _, doc := range docs {
				obj, err := decodeStrict(doc)
				require.NoError(t, err, "%s:\n%s", rel, doc)
				require.NotNil(t, obj)
			}
		})
	}
}

// TestOverlaysRender renders every overlay as `kubectl apply -k` would and
// checks what the manifests promise.
func TestOverlaysRender(t *testing.T) {
	image := parseDockerfile(t)
	for _, ov := range overlays {
		t.Run(ov.name, func(t *testing.T) {
			r := render(t, ov.dir)
			agent, gateway := r.workloads(t)

			t.Run("namespace", func(t *testing.T) {
				require.Len(t, r.namespaces, 1)
				assert.Equal(t, namespace, r.namespaces[0].Name)
				for _, o := range r.objects {
					m, err := metaOf(o)
					require.NoError(t, err)
					switch o.(type) {
					case *corev1.Namespace, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
						assert.Empty(t, m.GetNamespace(), "%T %s", o, m.GetName())
					default:
						assert.Equal(t, namespace, m.GetNamespace(), "%T %s", o, m.GetName())
					}
				}
			})

			t.Run("configs are config/ byte for byte", func(t *testing.T) {
				for _, w := range []workload{agent, gateway} {
					cfgs := r.configs(t, w)
					want := "config/" + w.role + ".yaml"
					assert.Equal(t, configDir+"/"+w.role+".yaml", cfgs[0].arg, "%s loads %s first", w.name, want)
					for _, c := range cfgs {
						src := "config/" + c.key
						if _, err := os.Stat(filepath.Join(repoRoot(), src)); err != nil {
							src = ov.dir + "/config/" + c.key
						}
						assert.True(t, bytes.Equal(readRepoFile(t, src), c.data), "%s: the ConfigMap's %s differs from %s", w.name, c.key, src)
					}
				}
			})

			t.Run("agent", func(t *testing.T) { checkAgent(t, r, agent) })
			t.Run("gateway", func(t *testing.T) { checkGateway(t, r, gateway, ov.minReplicas, ov.maxReplicas) })
			t.Run("security context", func(t *testing.T) {
				for _, w := range []workload{agent, gateway} {
					checkSecurity(t, w, image.user)
				}
			})
			t.Run("memory", func(t *testing.T) {
				for _, w := range []workload{agent, gateway} {
					checkMemory(t, r, w, image.env)
				}
			})
			t.Run("network policy", func(t *testing.T) { checkNetworkPolicy(t, r, agent, gateway) })
			t.Run("services", func(t *testing.T) { checkServices(t, r, agent, gateway) })
			t.Run("otlp auth", func(t *testing.T) {
				cfgs := r.configs(t, gateway)
				var auth []string
				for _, c := range cfgs {
					auth = append(auth, components(c.cfg.tree, "extensions", "bearertokenauth")...)
					for _, proto := range []string{"grpc", "http"} {
						if tls := get(c.cfg.tree, "receivers", "otlp", "protocols", proto, "tls"); tls != nil {
							for _, k := range []string{"cert_file", "key_file"} {
								f, _ := get(tls, k).(string)
								m := mountFor(gateway.container, f)
								require.NotNil(t, m, "otlp %s %s %q is on no volume", proto, k, f)
								v := volumeNamed(gateway.pod, m.Name)
								require.NotNil(t, v.Secret, "the TLS certificate comes from a Secret")
							}
						}
					}
				}
				if !ov.otlpAuth {
					assert.Empty(t, auth)
					return
				}
				require.NotEmpty(t, auth, "the gateway's OTLP receivers need an authenticator")
				merged := map[string]any{}
				for _, c := range cfgs {
					mergeInto(merged, c.cfg.tree)
				}
				for _, proto := range []string{"grpc", "http"} {
					assert.NotNil(t, get(merged, "receivers", "otlp", "protocols", proto, "tls"), "otlp %s without TLS", proto)
					assert.Contains(t, auth, get(merged, "receivers", "otlp", "protocols", proto, "auth", "authenticator"), "otlp %s without bearer token", proto)
				}
				// a list replaces the base's when configs merge: the overlay
				// must repeat gateway.yaml's extensions
				base, _ := get(cfgs[0].cfg.tree, "service", "extensions").([]any)
				all, _ := get(merged, "service", "extensions").([]any)
				for _, e := range base {
					assert.Contains(t, all, e, "the overlay's service.extensions dropped %v", e)
				}
				for _, a := range auth {
					assert.Contains(t, all, a)
				}
			})
			t.Run("secrets", func(t *testing.T) {
				var referenced []string
				for _, w := range []workload{agent, gateway} {
					for _, e := range w.container.Env {
						if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							referenced = append(referenced, e.ValueFrom.SecretKeyRef.Name)
						}
					}
					for _, v := range w.pod.Spec.Volumes {
						if v.Secret != nil {
							referenced = append(referenced, v.Secret.SecretName)
						}
					}
				}
				var external []string
				for _, s := range referenced {
					if _, ok := r.secrets[s]; !ok && !slices.Contains(external, s) {
						external = append(external, s)
					}
				}
				slices.Sort(external)
				assert.Equal(t, ov.externalSecrets, external, "Secrets the overlay needs but does not create")
				readme := string(readRepoFile(t, "deploy/README.md"))
				for _, s := range external {
					assert.Contains(t, readme, s, "deploy/README.md must tell how to create %s", s)
				}
			})
		})
	}
}

func metaOf(o any) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, os.ErrInvalid
	}
	return m, nil
}

// mergeInto merges src into dst the way the collector merges --config files:
// maps deeply, everything else (lists too) replaced.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
			cp := map[string]any{}
			mergeInto(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

func checkAgent(t *testing.T, r *rendered, w workload) {
	c := w.container
	spec := w.pod.Spec
	assert.Contains(t, spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists}, "the agent runs on every node")

	// pod logs, read-only
	m := mountFor(c, "/var/log/pods")
	require.NotNil(t, m, "/var/log/pods is not mounted")
	assert.Equal(t, "/var/log/pods", m.MountPath)
	assert.True(t, m.ReadOnly, "/var/log/pods must be read-only")
	v := volumeNamed(w.pod, m.Name)
	require.NotNil(t, v.HostPath)
	assert.Equal(t, "/var/log/pods", v.HostPath.Path)

	// state on the node: DirectoryOrCreate hostPath, where BIZ_QUEUE_DIR points
	q := envVar(c, "BIZ_QUEUE_DIR")
	require.NotNil(t, q, "BIZ_QUEUE_DIR")
	m = mountFor(c, q.Value)
	require.NotNil(t, m, "BIZ_QUEUE_DIR=%s is on no volume", q.Value)
	assert.False(t, m.ReadOnly)
	v = volumeNamed(w.pod, m.Name)
	require.NotNil(t, v.HostPath, "the agent's state must survive the pod: hostPath")
	require.NotNil(t, v.HostPath.Type)
	assert.Equal(t, corev1.HostPathDirectoryOrCreate, *v.HostPath.Type)
	assert.Equal(t, "/var/lib/otelcol-biz/agent", v.HostPath.Path)

	// downward API
	for name, field := range map[string]string{
		"K8S_NODE_NAME":     "spec.nodeName",
		"K8S_POD_NAME":      "metadata.name",
		"K8S_POD_NAMESPACE": "metadata.namespace",
		"K8S_POD_IP":        "status.podIP",
		"K8S_NODE_IP":       "status.hostIP",
	} {
		e := envVar(c, name)
		if assert.NotNil(t, e, name) && assert.NotNil(t, e.ValueFrom, name) && assert.NotNil(t, e.ValueFrom.FieldRef, name) {
			assert.Equal(t, field, e.ValueFrom.FieldRef.FieldPath, name)
		}
	}

	// OTLP on the node's IP
	for _, name := range []string{"otlp-grpc", "otlp-http"} {
		p := containerPort(c, name)
		if assert.NotNil(t, p, name) {
			assert.Equal(t, p.ContainerPort, p.HostPort, "%s: hostPort", name)
		}
	}

	// RBAC: what the agent config's components need, and nothing that writes
	cfgs := r.configs(t, w)
	rules := agentRules(t, r, w)
	for _, c := range cfgs {
		for _, need := range requiredRules(c.cfg) {
			assert.True(t, allows(rules, need), "%s needs %v", c.key, need)
		}
	}
	for _, rule := range rules {
		for _, verb := range rule.Verbs {
			assert.Contains(t, []string{"get", "list", "watch"}, verb, "the agent only reads: %v", rule)
		}
		assert.NotContains(t, rule.Resources, "secrets")
		assert.NotContains(t, rule.Resources, "*")
	}
}

// agentRules are the ClusterRole rules bound to the agent's ServiceAccount.
func agentRules(t *testing.T, r *rendered, w workload) []rbacv1.PolicyRule {
	sa := w.pod.Spec.ServiceAccountName
	require.NotEmpty(t, sa)
	require.Contains(t, r.serviceAccounts, sa)
	var rules []rbacv1.PolicyRule
	for _, b := range r.bindings {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == namespace {
				require.Equal(t, "ClusterRole", b.RoleRef.Kind)
				role := r.clusterRoles[b.RoleRef.Name]
				require.NotNil(t, role, "ClusterRole %s", b.RoleRef.Name)
				rules = append(rules, role.Rules...)
			}
		}
	}
	require.NotEmpty(t, rules, "no ClusterRole bound to %s", sa)
	return rules
}

type need struct{ group, resource, verb string }

// requiredRules is what the k8s components of a collector config read.
func requiredRules(c *collectorConfig) []need {
	var out []need
	for _, id := range append(components(c.tree, "processors", "k8s_attributes"), components(c.tree, "processors", "k8sattributes")...) {
		for _, v := range []string{"get", "list", "watch"} {
			out = append(out, need{"", "pods", v}, need{"", "namespaces", v})
		}
		meta, _ := get(c.tree, "processors", id, "extract", "metadata").([]any)
		if meta == nil || slices.Contains(meta, any("k8s.deployment.name")) {
			for _, v := range []string{"get", "list", "watch"} {
				out = append(out, need{"apps", "replicasets", v})
			}
		}
	}
	for _, id := range components(c.tree, "receivers", "kubeletstats") {
		out = append(out, need{"", "nodes/stats", "get"})
		rc, _ := get(c.tree, "receivers", id).(map[string]any)
		needsProxy := get(rc, "extra_metadata_labels") != nil
		metrics, _ := get(rc, "metrics").(map[string]any)
		for name, m := range metrics {
			if strings.Contains(name, "utilization") && get(m, "enabled") == true {
				needsProxy = true
			}
		}
		if needsProxy {
			out = append(out, need{"", "nodes/proxy", "get"})
		}
	}
	return out
}

func allows(rules []rbacv1.PolicyRule, n need) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, n.group) && slices.Contains(r.Resources, n.resource) && slices.Contains(r.Verbs, n.verb) {
			return true
		}
	}
	return false
}

func checkGateway(t *testing.T, r *rendered, w workload, minReplicas, maxReplicas int32) {
	c := w.container
	sts := r.statefulSets[0]
	assert.Nil(t, sts.Spec.Replicas, "the HPA owns the replica count")

	// state on a PVC, where BIZ_STATE_DIR points
	s := envVar(c, "BIZ_STATE_DIR")
	require.NotNil(t, s)
	m := mountFor(c, s.Value)
	require.NotNil(t, m, "BIZ_STATE_DIR=%s is on no volume", s.Value)
	assert.False(t, m.ReadOnly)
	assert.Nil(t, volumeNamed(w.pod, m.Name), "BIZ_STATE_DIR must be on a volumeClaimTemplate, not a pod volume")
	found := false
	for _, pvc := range w.claims {
		if pvc.Name == m.Name {
			found = true
			assert.Contains(t, pvc.Spec.AccessModes, corev1.ReadWriteOnce)
			assert.False(t, pvc.Spec.Resources.Requests.Storage().IsZero())
		}
	}
	assert.True(t, found, "no volumeClaimTemplate %q", m.Name)

	// the salt from a Secret
	salt := envVar(c, "BIZ_DYE_SALT")
	require.NotNil(t, salt)
	require.NotNil(t, salt.ValueFrom)
	assert.NotNil(t, salt.ValueFrom.SecretKeyRef, "BIZ_DYE_SALT comes from a Secret")

	// headless Service
	var headless *corev1.Service
	for _, svc := range r.services {
		if svc.Name == sts.Spec.ServiceName {
			headless = svc
		}
	}
	require.NotNil(t, headless, "serviceName %q", sts.Spec.ServiceName)
	assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)

	// HPA on CPU
	require.Len(t, r.hpas, 1)
	hpa := r.hpas[0]
	assert.Equal(t, "StatefulSet", hpa.Spec.ScaleTargetRef.Kind)
	assert.Equal(t, sts.Name, hpa.Spec.ScaleTargetRef.Name)
	require.NotNil(t, hpa.Spec.MinReplicas)
	assert.Equal(t, minReplicas, *hpa.Spec.MinReplicas)
	assert.Equal(t, maxReplicas, hpa.Spec.MaxReplicas)
	cpu := false
	for _, mt := range hpa.Spec.Metrics {
		if mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU {
			cpu = true
		}
	}
	assert.True(t, cpu, "the HPA scales on CPU")
	assert.False(t, c.Resources.Requests.Cpu().IsZero(), "CPU utilization needs requests.cpu")

	// PDB
	require.Len(t, r.pdbs, 1)
	pdb := r.pdbs[0]
	require.NotNil(t, pdb.Spec.MaxUnavailable)
	assert.Equal(t, intstr.FromInt32(1), *pdb.Spec.MaxUnavailable)
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(w.pod.Labels)), "the PDB selects the gateway")

	// grace period longer than the holds plus a drain
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	cfgs := r.configs(t, w)
	hold := time.Duration(0)
	for _, k := range [][]string{{"processors", "biz_dye", "wait"}, {"processors", "biz_dye", "sampling", "decision_wait"}} {
		s, _ := get(cfgs[0].cfg.tree, k...).(string)
		d, err := time.ParseDuration(expand(s, env))
		require.NoError(t, err, "%v", k)
		hold += d
	}
	require.NotNil(t, w.pod.Spec.TerminationGracePeriodSeconds)
	grace := time.Duration(*w.pod.Spec.TerminationGracePeriodSeconds) * time.Second
	assert.GreaterOrEqual(t, grace, hold+30*time.Second, "terminationGracePeriodSeconds vs biz_dye wait + decision_wait + 30 s of drain")

	// the gateway never calls the API
	sa := r.serviceAccounts[w.pod.Spec.ServiceAccountName]
	require.NotNil(t, sa)
	require.NotNil(t, sa.AutomountServiceAccountToken)
	assert.False(t, *sa.AutomountServiceAccountToken)
	for _, b := range r.bindings {
		for _, s := range b.Subjects {
			assert.NotEqual(t, sa.Name, s.Name, "the gateway needs no RBAC")
		}
	}
}

func checkSecurity(t *testing.T, w workload, imageUser string) {
	c := w.container
	sc := c.SecurityContext
	require.NotNil(t, sc, w.name)
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", w.name)
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", w.name)
	assert.True(t, sc.Privileged == nil || !*sc.Privileged, w.name)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, w.name)
	assert.Empty(t, sc.Capabilities.Add, w.name)
	seccomp := sc.SeccompProfile
	if seccomp == nil && w.pod.Spec.SecurityContext != nil {
		seccomp = w.pod.Spec.SecurityContext.SeccompProfile
	}
	require.NotNil(t, seccomp, w.name)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, seccomp.Type, w.name)
	assert.False(t, w.pod.Spec.HostNetwork || w.pod.Spec.HostPID || w.pod.Spec.HostIPC, w.name)
	require.NotNil(t, sc.RunAsUser, w.name)
	switch w.role {
	case "gateway":
		require.NotNil(t, sc.RunAsNonRoot)
		assert.True(t, *sc.RunAsNonRoot, "the gateway runs as non-root")
		assert.Equal(t, imageUser, formatInt(*sc.RunAsUser), "the gateway runs as the image's user (docker/Dockerfile)")
		ps := w.pod.Spec.SecurityContext
		require.NotNil(t, ps)
		require.NotNil(t, ps.FSGroup, "the state volume must be writable by the image's user")
		assert.Equal(t, imageUser, formatInt(*ps.FSGroup))
	case "agent":
		// documented in agent-daemonset.yaml and deploy/README.md: uid 0
		// without capabilities, to read root-owned pod logs
		assert.Equal(t, int64(0), *sc.RunAsUser)
		require.NotNil(t, sc.RunAsNonRoot)
		assert.False(t, *sc.RunAsNonRoot)
	}
	for _, v := range w.pod.Spec.Volumes {
		if v.HostPath != nil {
			assert.Equal(t, "agent", w.role, "%s: hostPath %s", w.name, v.HostPath.Path)
			for _, vm := range c.VolumeMounts {
				if vm.Name == v.Name && v.HostPath.Path != "/var/lib/otelcol-biz/agent" {
					assert.True(t, vm.ReadOnly, "%s: hostPath %s must be read-only", w.name, v.HostPath.Path)
				}
			}
		}
	}
}

func formatInt(i int64) string { return strconv.FormatInt(i, 10) }

// checkMemory: memory_limiter's limit is the container's memory limit
// (downward API, MiB), the spike 25-50% of it: otelcol-biz sets GOMEMLIMIT
// to limit - spike, and the process's RSS was measured at up to 1.25x that
// (RELIABILITY.md), so it stays under the container limit. On the gateway,
// biz_dye's hold (0.5 KiB a span) stays under a quarter of the limit
// (README, "Memory and backpressure").
func checkMemory(t *testing.T, r *rendered, w workload, image map[string]string) {
	c := w.container
	limit := c.Resources.Limits.Memory()
	require.False(t, limit.IsZero(), "%s: limits.memory", w.name)
	e := envVar(c, "BIZ_MEMORY_LIMIT_MIB")
	require.NotNil(t, e, w.name)
	require.NotNil(t, e.ValueFrom, "%s: BIZ_MEMORY_LIMIT_MIB from the downward API", w.name)
	rf := e.ValueFrom.ResourceFieldRef
	require.NotNil(t, rf, w.name)
	assert.Equal(t, "limits.memory", rf.Resource, w.name)
	assert.Equal(t, "1Mi", rf.Divisor.String(), w.name)
	env := resolveEnv(t, r, c, image)
	limitMiB := limit.Value() >> 20
	assert.Equal(t, formatInt(limitMiB), env["BIZ_MEMORY_LIMIT_MIB"], w.name)
	spike, err := strconv.ParseInt(env["BIZ_MEMORY_SPIKE_MIB"], 10, 64)
	require.NoError(t, err, "%s: BIZ_MEMORY_SPIKE_MIB", w.name)
	assert.GreaterOrEqual(t, spike*4, limitMiB, "%s: spike %d MiB < 25%% of %d MiB: GOMEMLIMIT too close to the container limit", w.name, spike, limitMiB)
	assert.LessOrEqual(t, spike*2, limitMiB, "%s: spike %d MiB > 50%% of %d MiB wastes memory", w.name, spike, limitMiB)
	req := c.Resources.Requests.Memory()
	assert.LessOrEqual(t, req.Cmp(*limit), 0, w.name)

	if w.role == "gateway" {
		cfgs := r.configs(t, w)
		s, _ := get(cfgs[0].cfg.tree, "processors", "biz_dye", "max_buffered_spans").(string)
		spans, err := strconv.ParseInt(expand(s, env), 10, 64)
		require.NoError(t, err, "max_buffered_spans %q", s)
		assert.LessOrEqual(t, spans*512, limit.Value()/4, "%s: biz_dye max_buffered_spans %d x 0.5 KiB over a quarter of %s", w.name, spans, limit)
	}
}

// checkNetworkPolicy: the gateway's OTLP ports are reachable from the agents
// only; its metrics ports from the monitoring namespace (or agents) only.
func checkNetworkPolicy(t *testing.T, r *rendered, agent, gateway workload) {
	var pols []*networkingv1.NetworkPolicy
	for _, p := range r.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		require.NoError(t, err)
		if sel.Matches(labels.Set(gateway.pod.Labels)) {
			pols = append(pols, p)
		}
		assert.False(t, sel.Matches(labels.Set(agent.pod.Labels)), "%s selects the agents too", p.Name)
	}
	require.NotEmpty(t, pols, "no NetworkPolicy selects the gateway")
	isAgent := func(peer networkingv1.NetworkPolicyPeer) bool {
		if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
		return err == nil && !sel.Empty() && sel.Matches(labels.Set(agent.pod.Labels)) && !sel.Matches(labels.Set(gateway.pod.Labels))
	}
	isMonitoring := func(peer networkingv1.NetworkPolicyPeer) bool {
		return peer.PodSelector == nil && peer.IPBlock == nil && peer.NamespaceSelector != nil &&
			peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring"
	}
	allowedFromAgents := map[int32]bool{}
	for _, p := range pols {
		assert.Contains(t, p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress, p.Name)
		for _, rule := range p.Spec.Ingress {
			require.NotEmpty(t, rule.Ports, "%s: a rule without ports opens every port", p.Name)
			require.NotEmpty(t, rule.From, "%s: a rule without peers opens to everyone", p.Name)
			for _, port := range rule.Ports {
				require.NotNil(t, port.Port, p.Name)
				n := port.Port.IntVal
				if port.Port.Type == intstr.String {
					cp := containerPort(gateway.container, port.Port.StrVal)
					require.NotNil(t, cp, "named port %s", port.Port.StrVal)
					n = cp.ContainerPort
				}
				for _, peer := range rule.From {
					switch n {
					case 4317, 4318:
						assert.True(t, isAgent(peer), "%s: OTLP port %d open to %+v", p.Name, n, peer)
						allowedFromAgents[n] = true
					case 8888, 8889:
						assert.True(t, isAgent(peer) || isMonitoring(peer), "%s: port %d open to %+v", p.Name, n, peer)
					default:
						t.Errorf("%s opens port %d", p.Name, n)
					}
				}
			}
		}
	}
	assert.True(t, allowedFromAgents[4317] && allowedFromAgents[4318], "the agents must reach the gateway's OTLP ports")
}

// checkServices: every Service selects one workload, on ports it declares.
func checkServices(t *testing.T, r *rendered, agent, gateway workload) {
	for _, svc := range r.services {
		var w *workload
		for _, cand := range []*workload{&agent, &gateway} {
			if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(cand.pod.Labels)) {
				require.Nil(t, w, "%s selects both workloads", svc.Name)
				w = cand
			}
		}
		require.NotNil(t, w, "%s selects no workload", svc.Name)
		require.NotEmpty(t, svc.Spec.Selector, svc.Name)
		for _, p := range svc.Spec.Ports {
			var cp *corev1.ContainerPort
			if p.TargetPort.Type == intstr.String {
				cp = containerPort(w.container, p.TargetPort.StrVal)
			} else {
				for i := range w.container.Ports {
					if w.container.Ports[i].ContainerPort == p.TargetPort.IntVal {
						cp = &w.container.Ports[i]
					}
				}
			}
			if assert.NotNil(t, cp, "%s: port %s targets nothing", svc.Name, p.Name) {
				assert.Equal(t, cp.ContainerPort, p.Port, "%s: %s", svc.Name, p.Name)
			}
		}
		if w.role == "agent" {
			require.NotNil(t, svc.Spec.InternalTrafficPolicy, svc.Name)
			assert.Equal(t, corev1.ServiceInternalTrafficPolicyLocal, *svc.Spec.InternalTrafficPolicy, "%s: node-local", svc.Name)
		}
	}
}
