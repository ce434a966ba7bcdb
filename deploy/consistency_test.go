package deploy

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// unreadEnvAllowed are env vars the agent's manifests set although the
// configs it loads may not read them (yet), with the reason.
var unreadEnvAllowed = map[string]string{
	"K8S_POD_IP": "downward API, for overlays that bind receivers to the pod IP ($(K8S_POD_IP):4317)",
}

// binaryEnv are env vars otelcol-biz itself reads (internal/memorylimit).
var binaryEnv = []string{"BIZ_MEMORY_LIMIT_MIB", "BIZ_MEMORY_SPIKE_MIB"}

// TestEnvAgreesWithConfigs: every env var a manifest sets is read by a
// config the container loads (or by the binary), every env var a config
// reads without a default is set, and pprof is not opened.
func TestEnvAgreesWithConfigs(t *testing.T) {
	image := parseDockerfile(t)
	for _, ov := range overlays {
		r := render(t, ov.dir)
		agent, gateway := r.workloads(t)
		for _, w := range []workload{agent, gateway} {
			t.Run(ov.name+"/"+w.role, func(t *testing.T) {
				cfgs := r.configs(t, w)
				reads := mergedEnv(cfgs)
				for _, e := range w.container.Env {
					if _, ok := reads[e.Name]; ok || slices.Contains(binaryEnv, e.Name) {
						continue
					}
					if why, ok := unreadEnvAllowed[e.Name]; ok && w.role == "agent" {
						if ov.name == "base" {
							t.Logf("%s is set, not read by the configs: %s", e.Name, why)
						}
						continue
					}
					t.Errorf("%s sets %s, which no config it loads reads", w.name, e.Name)
				}
				env := resolveEnv(t, r, w.container, image.env)
				for _, name := range sortedKeys(reads) {
					if !reads[name].hasDefault {
						assert.Contains(t, env, name, "%s: a config reads ${env:%s} without a default", w.name, name)
					}
				}
				assert.Nil(t, envVar(w.container, "BIZ_PPROF_ENDPOINT"), "pprof stays off the pod's address")
				merged := map[string]any{}
				for _, c := range cfgs {
					mergeInto(merged, c.cfg.tree)
				}
				exts, _ := get(merged, "service", "extensions").([]any)
				for _, id := range components(merged, "extensions", "pprof") {
					if !slices.Contains(exts, any(id)) {
						continue
					}
					ep, _ := get(merged, "extensions", id, "endpoint").(string)
					host, _ := hostPort(t, id, expand(ep, env))
					assert.Contains(t, []string{"127.0.0.1", "localhost", "::1", "[::1]"}, host, "%s: %s listens beyond loopback", w.name, id)
					if ov.name == "base" {
						t.Logf("%s: config enables %s on %s (loopback only)", w.name, id, expand(ep, env))
					}
				}
			})
		}
	}
}

// listener is an address a collector config listens on, and the container
// port it must be.
type listener struct {
	what     string
	portName string
	endpoint string
}

func listeners(t *testing.T, merged map[string]any, env map[string]string) []listener {
	var out []listener
	add := func(what, portName string, v any) {
		s, ok := v.(string)
		if !ok || s == "" {
			return
		}
		out = append(out, listener{what: what, portName: portName, endpoint: expand(s, env)})
	}
	for _, id := range components(merged, "receivers", "otlp") {
		add(id+" grpc", "otlp-grpc", get(merged, "receivers", id, "protocols", "grpc", "endpoint"))
		add(id+" http", "otlp-http", get(merged, "receivers", id, "protocols", "http", "endpoint"))
	}
	for _, id := range components(merged, "extensions", "healthcheckv2") {
		add(id, "health", get(merged, "extensions", id, "http", "endpoint"))
	}
	for _, id := range components(merged, "extensions", "health_check") {
		add(id, "health", get(merged, "extensions", id, "endpoint"))
	}
	for _, id := range components(merged, "exporters", "prometheus") {
		add(id, "prometheus", get(merged, "exporters", id, "endpoint"))
	}
	readers, _ := get(merged, "service", "telemetry", "metrics", "readers").([]any)
	for _, rd := range readers {
		if p := get(rd, "pull", "exporter", "prometheus"); p != nil {
			host, _ := get(p, "host").(string)
			port := get(p, "port")
			ps, _ := port.(string)
			if f, ok := port.(float64); ok {
				ps = strconv.Itoa(int(f))
			}
			add("service telemetry", "telemetry", host+":"+ps)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestListenersMatchPorts: every address the loaded configs listen on (with
// the manifest's env) is a declared container port, off loopback; the probes
// use the health check's port and path; compose and the Dockerfile agree.
func TestListenersMatchPorts(t *testing.T) {
	image := parseDockerfile(t)
	var declared []int
	for _, ov := range overlays {
		r := render(t, ov.dir)
		agent, gateway := r.workloads(t)
		for _, w := range []workload{agent, gateway} {
			t.Run(ov.name+"/"+w.role, func(t *testing.T) {
				env := resolveEnv(t, r, w.container, image.env)
				merged := map[string]any{}
				for _, c := range r.configs(t, w) {
					mergeInto(merged, c.cfg.tree)
				}
				used := map[string]bool{}
				for _, l := range listeners(t, merged, env) {
					host, port := hostPort(t, l.what, l.endpoint)
					assert.NotContains(t, []string{"127.0.0.1", "localhost", "::1", "[::1]"}, host, "%s: %s listens on loopback only (%s)", w.name, l.what, l.endpoint)
					cp := containerPort(w.container, l.portName)
					if assert.NotNil(t, cp, "%s: %s listens on %s; declare the container port %q", w.name, l.what, l.endpoint, l.portName) {
						assert.Equal(t, int32(port), cp.ContainerPort, "%s: %s", w.name, l.what)
					}
					used[l.portName] = true
				}
				for _, p := range w.container.Ports {
					assert.True(t, used[p.Name], "%s: container port %s (%d) is not a listener of its config", w.name, p.Name, p.ContainerPort)
					declared = append(declared, int(p.ContainerPort))
				}
				path := healthPath(merged)
				for name, pr := range map[string]*corev1.Probe{"liveness": w.container.LivenessProbe, "readiness": w.container.ReadinessProbe} {
					require.NotNil(t, pr, "%s: %s probe", w.name, name)
					require.NotNil(t, pr.HTTPGet, "%s: %s probe", w.name, name)
					assert.Equal(t, path, pr.HTTPGet.Path, "%s: %s probe path", w.name, name)
					assert.Equal(t, intstr.FromString("health"), pr.HTTPGet.Port, "%s: %s probe port", w.name, name)
				}
				checkStoragePaths(t, w, merged, env)
			})
		}
	}
	t.Run("Dockerfile EXPOSE", func(t *testing.T) {
		slices.Sort(declared)
		declared = slices.Compact(declared)
		expose := slices.Clone(image.expose)
		slices.Sort(expose)
		assert.Equal(t, declared, expose, "the image's EXPOSE vs the manifests' container ports")
	})
}

// healthPath is the health check's status path in a config.
func healthPath(merged map[string]any) string {
	if ids := components(merged, "extensions", "healthcheckv2"); len(ids) > 0 {
		if p, ok := get(merged, "extensions", ids[0], "http", "status", "path").(string); ok {
			return p
		}
		return "/status"
	}
	for _, id := range components(merged, "extensions", "health_check") {
		if p, ok := get(merged, "extensions", id, "path").(string); ok {
			return p
		}
	}
	return "/"
}

// checkStoragePaths: every file_storage directory is on a writable,
// persistent volume (hostPath for the agent, a claim for the gateway), and
// every filelog include is on a read-only hostPath.
func checkStoragePaths(t *testing.T, w workload, merged map[string]any, env map[string]string) {
	for _, id := range components(merged, "extensions", "file_storage") {
		dir, _ := get(merged, "extensions", id, "directory").(string)
		dir = expand(dir, env)
		require.True(t, filepath.IsAbs(dir), "%s: %s directory %q is relative to the working folder", w.name, id, dir)
		m := mountFor(w.container, dir)
		require.NotNil(t, m, "%s: %s directory %s is on no volume (lost with the pod)", w.name, id, dir)
		assert.False(t, m.ReadOnly, "%s: %s", w.name, id)
		if v := volumeNamed(w.pod, m.Name); v != nil {
			assert.NotNil(t, v.HostPath, "%s: %s on volume %s, which does not outlive the pod", w.name, id, m.Name)
		} else {
			assert.True(t, slices.ContainsFunc(w.claims, func(c corev1.PersistentVolumeClaim) bool { return c.Name == m.Name }), "%s: %s", w.name, id)
		}
	}
	for _, id := range components(merged, "receivers", "filelog") {
		inc, _ := get(merged, "receivers", id, "include").([]any)
		require.NotEmpty(t, inc, id)
		for _, p := range inc {
			s := expand(p.(string), env)
			if i := strings.IndexAny(s, "*?["); i >= 0 {
				s = s[:i]
			}
			m := mountFor(w.container, s)
			require.NotNil(t, m, "%s: %s reads %v, which is not mounted", w.name, id, p)
			assert.True(t, m.ReadOnly, "%s: %s", w.name, id)
			assert.NotNil(t, volumeNamed(w.pod, m.Name).HostPath, "%s: %s", w.name, id)
		}
	}
}

// TestAgentAndGatewayShareKafka: the agents write the topics the gateway
// reads, on the same brokers.
func TestAgentAndGatewayShareKafka(t *testing.T) {
	image := parseDockerfile(t)
	for _, ov := range overlays {
		t.Run(ov.name, func(t *testing.T) {
			r := render(t, ov.dir)
			agent, gateway := r.workloads(t)
			ae, ge := resolveEnv(t, r, agent.container, image.env), resolveEnv(t, r, gateway.container, image.env)
			ac, gc := r.configs(t, agent)[0].cfg.tree, r.configs(t, gateway)[0].cfg.tree
			exps := components(ac, "exporters", "kafka")
			recs := components(gc, "receivers", "durable_kafka")
			require.Len(t, exps, 1)
			require.Len(t, recs, 1)
			exp, rec := get(ac, "exporters", exps[0]), get(gc, "receivers", recs[0])
			for _, signal := range []string{"traces", "logs", "metrics"} {
				at, _ := get(exp, signal, "topic").(string)
				gt, _ := get(rec, signal, "topic").(string)
				assert.Equal(t, expand(at, ae), expand(gt, ge), "%s topic", signal)
			}
			ab, _ := get(exp, "brokers").([]any)
			gb, _ := get(rec, "brokers").([]any)
			require.Equal(t, len(ab), len(gb))
			for i := range ab {
				assert.Equal(t, expand(ab[i].(string), ae), expand(gb[i].(string), ge), "brokers")
			}
			assert.Equal(t, "true", strings.ToLower(strings.TrimSpace(toString(get(exp, "partition_traces_by_id")))), "the agents partition by trace id")
		})
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// TestComposeAgreesWithManifests: docker/compose.yaml loads the same config
// files at the same paths as the manifests, sets only env vars those configs
// read, publishes the agent's OTLP ports, and every ENV of the image is read
// by some config.
func TestComposeAgreesWithManifests(t *testing.T) {
	image := parseDockerfile(t)
	services := parseCompose(t)
	r := render(t, overlays[0].dir)
	agent, gateway := r.workloads(t)
	for _, w := range []workload{agent, gateway} {
		t.Run(w.role, func(t *testing.T) {
			svc, ok := services[w.role]
			require.True(t, ok, "compose service %q", w.role)
			var mountSrc string
			for _, v := range svc.Volumes {
				parts := strings.Split(v, ":")
				if len(parts) >= 2 && parts[1] == configDir {
					mountSrc = parts[0]
				}
			}
			require.Equal(t, "../config", mountSrc, "compose mounts config/ at %s", configDir)
			var paths []string
			reads := map[string]envRef{}
			for _, a := range svc.Command {
				p, ok := strings.CutPrefix(a, "--config=")
				if !ok {
					continue
				}
				paths = append(paths, p)
				rel := strings.TrimPrefix(p, configDir+"/")
				c := parseCollectorConfig(t, rel, readRepoFile(t, "config/"+rel))
				for k, v := range c.env {
					reads[k] = v
				}
			}
			require.NotEmpty(t, paths)
			assert.Equal(t, r.configs(t, w)[0].arg, paths[0], "the manifests and compose load the same file")
			for _, k := range sortedKeys(svc.Environment) {
				assert.Contains(t, reads, k, "compose's %s sets %s, which its configs do not read", w.role, k)
			}
			if w.role == "agent" {
				for _, p := range svc.Ports {
					parts := strings.Split(p, ":")
					n, err := strconv.Atoi(parts[len(parts)-1])
					require.NoError(t, err, p)
					assert.True(t, slices.ContainsFunc(w.container.Ports, func(cp corev1.ContainerPort) bool {
						return int(cp.ContainerPort) == n && (cp.Name == "otlp-grpc" || cp.Name == "otlp-http")
					}), "compose publishes %s, not an OTLP port of the agent", p)
				}
			}
		})
	}
	t.Run("image ENV", func(t *testing.T) {
		all := map[string]bool{}
		files, err := filepath.Glob(filepath.Join(repoRoot(), "config", "*.yaml"))
		require.NoError(t, err)
		for _, f := range files {
			rel, _ := filepath.Rel(repoRoot(), f)
			for k := range parseCollectorConfig(t, rel, readRepoFile(t, filepath.ToSlash(rel))).env {
				all[k] = true
			}
		}
		for _, k := range sortedKeys(image.env) {
			assert.True(t, all[k], "docker/Dockerfile sets ENV %s, which no config/*.yaml reads", k)
		}
	})
}
