package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// client-go's logger starts its flush goroutine when it is imported
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"))
}

// repoRoot is the repository's root folder.
func repoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), filepath.FromSlash(rel)))
	require.NoError(t, err)
	return b
}

// strictDecoder decodes YAML or JSON into the typed object its
// apiVersion/kind names and fails on unknown or duplicate fields.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

func decodeStrict(doc []byte) (runtime.Object, error) {
	obj, _, err := strictDecoder.Decode(doc, nil, nil)
	return obj, err
}

// splitYAML returns the non-empty documents of a multi-document YAML file.
func splitYAML(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, doc)
		}
	}
}

// --- rendered kustomizations ---

const (
	namespace     = "otelcol-biz"
	containerName = "otelcol-biz"
	configDir     = "/etc/otelcol-biz"
)

// overlays are the kustomizations a user applies (and the base they share).
var overlays = []struct {
	name string
	dir  string
	// the gateway HPA's bounds
	minReplicas, maxReplicas int32
	// the gateway's OTLP receivers take TLS + a bearer token
	otlpAuth bool
	// Secrets the overlay expects to exist without generating them
	// (deploy/README.md tells how to create them)
	externalSecrets []string
}{
	{name: "base", dir: "deploy/kubernetes/base", minReplicas: 3, maxReplicas: 12, externalSecrets: []string{"otelcol-biz-gateway-secrets"}},
	{name: "dev", dir: "deploy/kubernetes/overlays/dev", minReplicas: 1, maxReplicas: 1},
	{name: "production", dir: "deploy/kubernetes/overlays/production", minReplicas: 3, maxReplicas: 12, otlpAuth: true, externalSecrets: []string{"otelcol-biz-gateway-secrets", "otelcol-biz-gateway-tls"}},
}

// rendered is the output of one kustomization, decoded strictly.
type rendered struct {
	objects         []runtime.Object
	namespaces      []*corev1.Namespace
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	serviceAccounts map[string]*corev1.ServiceAccount
	services        []*corev1.Service
	daemonSets      []*appsv1.DaemonSet
	statefulSets    []*appsv1.StatefulSet
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	clusterRoles    map[string]*rbacv1.ClusterRole
	bindings        []*rbacv1.ClusterRoleBinding
}

// render runs kustomize on dir as `kubectl apply -k` does (files only from
// inside each kustomization's folder) and decodes every object strictly.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(), filepath.FromSlash(dir)))
	require.NoError(t, err, "kustomize %s", dir)
	out, err := m.AsYaml()
	require.NoError(t, err)
	docs, err := splitYAML(out)
	require.NoError(t, err)
	r := &rendered{
		configMaps:      map[string]*corev1.ConfigMap{},
		secrets:         map[string]*corev1.Secret{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		clusterRoles:    map[string]*rbacv1.ClusterRole{},
	}
	for _, doc := range docs {
		obj, err := decodeStrict(doc)
		require.NoError(t, err, "rendered %s:\n%s", dir, doc)
		r.objects = append(r.objects, obj)
		switch o := obj.(type) {
		case *corev1.Namespace:
			r.namespaces = append(r.namespaces, o)
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		case *corev1.Secret:
			r.secrets[o.Name] = o
		case *corev1.ServiceAccount:
			r.serviceAccounts[o.Name] = o
		case *corev1.Service:
			r.services = append(r.services, o)
		case *appsv1.DaemonSet:
			r.daemonSets = append(r.daemonSets, o)
		case *appsv1.StatefulSet:
			r.statefulSets = append(r.statefulSets, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *networkingv1.NetworkPolicy:
			r.netpols = append(r.netpols, o)
		case *rbacv1.ClusterRole:
			r.clusterRoles[o.Name] = o
		case *rbacv1.ClusterRoleBinding:
			r.bindings = append(r.bindings, o)
		default:
			t.Fatalf("%s renders a %T: add it to rendered and to the checks", dir, obj)
		}
	}
	return r
}

// workload is the otelcol-biz container of a DaemonSet or StatefulSet.
type workload struct {
	role      string // agent or gateway
	name      string
	pod       *corev1.PodTemplateSpec
	container *corev1.Container
	claims    []corev1.PersistentVolumeClaim
}

func (r *rendered) workloads(t *testing.T) (agent, gateway workload) {
	t.Helper()
	require.Len(t, r.daemonSets, 1, "one agent DaemonSet")
	require.Len(t, r.statefulSets, 1, "one gateway StatefulSet")
	ds, sts := r.daemonSets[0], r.statefulSets[0]
	agent = workload{role: "agent", name: ds.Name, pod: &ds.Spec.Template, container: findContainer(t, &ds.Spec.Template)}
	gateway = workload{role: "gateway", name: sts.Name, pod: &sts.Spec.Template, container: findContainer(t, &sts.Spec.Template), claims: sts.Spec.VolumeClaimTemplates}
	return agent, gateway
}

func findContainer(t *testing.T, pod *corev1.PodTemplateSpec) *corev1.Container {
	t.Helper()
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == containerName {
			return &pod.Spec.Containers[i]
		}
	}
	t.Fatalf("no container %q", containerName)
	return nil
}

// loadedConfig is one --config file of a container, from its ConfigMap.
type loadedConfig struct {
	arg  string // the path in the container
	key  string // the ConfigMap key
	data []byte
	cfg  *collectorConfig
}

// configs returns the files a container's --config args load, resolved
// through its volume mounts to the rendered ConfigMaps.
func (r *rendered) configs(t *testing.T, w workload) []loadedConfig {
	t.Helper()
	var out []loadedConfig
	for _, a := range w.container.Args {
		p, ok := strings.CutPrefix(a, "--config=")
		if !ok {
			continue
		}
		m := mountFor(w.container, p)
		require.NotNil(t, m, "%s: %s is on no volume", w.name, p)
		v := volumeNamed(w.pod, m.Name)
		require.NotNil(t, v, "%s: no volume %q", w.name, m.Name)
		require.NotNil(t, v.ConfigMap, "%s: %s is not from a ConfigMap", w.name, p)
		cm := r.configMaps[v.ConfigMap.Name]
		require.NotNil(t, cm, "%s: ConfigMap %q is not rendered", w.name, v.ConfigMap.Name)
		key := strings.TrimPrefix(strings.TrimPrefix(p, m.MountPath), "/")
		data, ok := cm.Data[key]
		require.True(t, ok, "%s: ConfigMap %s has no key %q for %s", w.name, cm.Name, key, a)
		out = append(out, loadedConfig{arg: p, key: key, data: []byte(data), cfg: parseCollectorConfig(t, key, []byte(data))})
	}
	require.NotEmpty(t, out, "%s loads no --config", w.name)
	return out
}

// mountFor is the volume mount a path in the container lies on (the deepest).
func mountFor(c *corev1.Container, p string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		if p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
			if best == nil || len(m.MountPath) > len(best.MountPath) {
				best = m
			}
		}
	}
	return best
}

func volumeNamed(pod *corev1.PodTemplateSpec, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func containerPort(c *corev1.Container, name string) *corev1.ContainerPort {
	for i := range c.Ports {
		if c.Ports[i].Name == name {
			return &c.Ports[i]
		}
	}
	return nil
}

// --- collector configs ---

// envRef is one ${env:NAME} or ${env:NAME:-default} in a collector config.
type envRef struct {
	hasDefault bool
	def        string
}

type collectorConfig struct {
	name string
	tree map[string]any
	env  map[string]envRef
}

var envRefRe = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// parseCollectorConfig reads a collector config and the env vars its values
// (not its comments) read.
func parseCollectorConfig(t *testing.T, name string, data []byte) *collectorConfig {
	t.Helper()
	c := &collectorConfig{name: name, env: map[string]envRef{}}
	require.NoError(t, yaml.Unmarshal(data, &c.tree), name)
	walkStrings(c.tree, func(s string) {
		for _, m := range envRefRe.FindAllStringSubmatch(s, -1) {
			ref := envRef{hasDefault: m[2] != "", def: m[3]}
			if old, ok := c.env[m[1]]; ok && old.hasDefault && !ref.hasDefault {
				ref = old
			}
			c.env[m[1]] = ref
		}
	})
	return c
}

func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case map[string]any:
		for _, e := range x {
			walkStrings(e, f)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, f)
		}
	}
}

// expand replaces ${env:NAME[:-default]} in s with env's value, or the
// default where env has none.
func expand(s string, env map[string]string) string {
	return envRefRe.ReplaceAllStringFunc(s, func(m string) string {
		sm := envRefRe.FindStringSubmatch(m)
		if v, ok := env[sm[1]]; ok {
			return v
		}
		return sm[3]
	})
}

// get walks a config tree along keys.
func get(tree any, keys ...string) any {
	for _, k := range keys {
		m, ok := tree.(map[string]any)
		if !ok {
			return nil
		}
		tree = m[k]
	}
	return tree
}

// components returns the ids ("type" or "type/name") in a config section
// whose type is typ.
func components(tree map[string]any, section, typ string) []string {
	var ids []string
	m, _ := tree[section].(map[string]any)
	for id := range m {
		if id == typ || strings.HasPrefix(id, typ+"/") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// merged reads the env refs of several configs together (what a container
// loading them all reads).
func mergedEnv(cfgs []loadedConfig) map[string]envRef {
	out := map[string]envRef{}
	for _, c := range cfgs {
		for k, v := range c.cfg.env {
			if old, ok := out[k]; ok && old.hasDefault {
				continue
			}
			out[k] = v
		}
	}
	return out
}

// --- a container's environment ---

// fakeDownward are the values the downward API would give (for validation).
var fakeDownward = map[string]string{
	"spec.nodeName":      "node-1",
	"metadata.name":      "otelcol-biz-0",
	"metadata.namespace": namespace,
	"status.podIP":       "10.0.0.10",
	"status.hostIP":      "192.0.2.10",
}

var depVarRe = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// resolveEnv is the environment the container's process starts with: the
// image's ENV, then the container's env in order ($(VAR) expanded as the
// kubelet does), with downward-API, resource and Secret values made up.
func resolveEnv(t *testing.T, r *rendered, c *corev1.Container, image map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range image {
		env[k] = v
	}
	for _, e := range c.Env {
		var v string
		switch {
		case e.ValueFrom == nil:
			v = depVarRe.ReplaceAllStringFunc(e.Value, func(m string) string {
				if x, ok := env[depVarRe.FindStringSubmatch(m)[1]]; ok {
					return x
				}
				return m
			})
		case e.ValueFrom.FieldRef != nil:
			var ok bool
			v, ok = fakeDownward[e.ValueFrom.FieldRef.FieldPath]
			require.True(t, ok, "%s: unexpected fieldPath %q", e.Name, e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.ResourceFieldRef != nil:
			rf := e.ValueFrom.ResourceFieldRef
			require.Contains(t, []string{"", c.Name}, rf.ContainerName, e.Name)
			var q resource.Quantity
			switch rf.Resource {
			case "limits.memory":
				q = c.Resources.Limits[corev1.ResourceMemory]
			case "requests.memory":
				q = c.Resources.Requests[corev1.ResourceMemory]
			default:
				t.Fatalf("%s: unexpected resource %q", e.Name, rf.Resource)
			}
			require.False(t, q.IsZero(), "%s reads %s, which is not set", e.Name, rf.Resource)
			div := rf.Divisor
			if div.IsZero() {
				div = resource.MustParse("1")
			}
			// the kubelet rounds up
			v = strconv.FormatInt((q.Value()+div.Value()-1)/div.Value(), 10)
		case e.ValueFrom.SecretKeyRef != nil:
			v = "secret-" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom.ConfigMapKeyRef != nil && r != nil:
			cm := r.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]
			require.NotNil(t, cm, e.Name)
			v = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
		default:
			t.Fatalf("%s: unsupported valueFrom", e.Name)
		}
		env[e.Name] = v
	}
	return env
}

// --- docker/ ---

type dockerfile struct {
	env        map[string]string
	user       string
	entrypoint []string
	expose     []int
}

// parseDockerfile reads the final stage's ENV, USER, ENTRYPOINT and EXPOSE of
// docker/Dockerfile.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw := string(readRepoFile(t, "docker/Dockerfile"))
	raw = strings.ReplaceAll(raw, "\\\n", " ")
	d := dockerfile{env: map[string]string{}}
	args := map[string]string{}
	for _, line := range strings.Split(raw, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			d = dockerfile{env: map[string]string{}}
			args = map[string]string{}
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			args[k] = v
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				require.True(t, ok, "ENV %q", kv)
				d.env[k] = v
			}
		case "USER":
			d.user = os.Expand(rest, func(k string) string { return args[k] })
		case "ENTRYPOINT":
			require.NoError(t, json.Unmarshal([]byte(rest), &d.entrypoint), line)
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(p)
				require.NoError(t, err, line)
				d.expose = append(d.expose, n)
			}
		}
	}
	require.NotEmpty(t, d.entrypoint)
	return d
}

type composeService struct {
	Command     []string       `json:"command"`
	Volumes     []string       `json:"volumes"`
	Environment map[string]any `json:"environment"`
	Ports       []string       `json:"ports"`
}

func parseCompose(t *testing.T) map[string]composeService {
	t.Helper()
	var f struct {
		Services map[string]composeService `json:"services"`
	}
	require.NoError(t, yaml.Unmarshal(readRepoFile(t, "docker/compose.yaml"), &f))
	return f.Services
}

// hostPort splits "host:port".
func hostPort(t *testing.T, what, endpoint string) (string, int) {
	t.Helper()
	i := strings.LastIndex(endpoint, ":")
	require.Positive(t, i, "%s=%q is not host:port", what, endpoint)
	p, err := strconv.Atoi(endpoint[i+1:])
	require.NoError(t, err, "%s=%q", what, endpoint)
	return endpoint[:i], p
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
