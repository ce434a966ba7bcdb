package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/otelcol-biz/otelcol-biz/config"
)

// validateCase is one container as a manifest or values file runs it: the
// config files it loads and its environment.
type validateCase struct {
	name    string
	configs map[string][]byte // file name -> content, in --config order
	order   []string
	env     map[string]string
}

// TestConfigsValidateWithBinary runs `otelcol-biz validate` on every config
// a manifest or Helm values file loads, with that container's environment
// (image ENV + manifest env; downward-API and Secret values made up). It
// needs the built binary in OTELCOL_BIZ_BIN, which `make unit-test` sets.
func TestConfigsValidateWithBinary(t *testing.T) {
	bin := os.Getenv("OTELCOL_BIZ_BIN")
	if bin == "" {
		t.Skip("OTELCOL_BIZ_BIN is not set (make unit-test sets it)")
	}
	image := parseDockerfile(t)
	var cases []validateCase
	for _, ov := range overlays {
		r := render(t, ov.dir)
		agent, gateway := r.workloads(t)
		for _, w := range []workload{agent, gateway} {
			c := validateCase{name: ov.name + "/" + w.role, configs: map[string][]byte{}, env: resolveEnv(t, r, w.container, image.env)}
			for _, lc := range r.configs(t, w) {
				c.configs[lc.key] = lc.data
				c.order = append(c.order, lc.key)
			}
			cases = append(cases, c)
		}
	}
	for _, hv := range helmValues {
		h := readHelmFile(t, hv.file)
		var spec struct {
			ExtraEnvs []corev1.EnvVar             `json:"extraEnvs"`
			Resources corev1.ResourceRequirements `json:"resources"`
		}
		b, err := yaml.Marshal(h.values)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(b, &spec))
		ctr := &corev1.Container{Name: "opentelemetry-collector", Env: spec.ExtraEnvs, Resources: spec.Resources}
		env := resolveEnv(t, nil, ctr, image.env)
		env["MY_POD_IP"] = fakeDownward["status.podIP"] // the chart's own
		cases = append(cases, validateCase{
			name:    "helm/" + filepath.Base(hv.file),
			configs: map[string][]byte{"relay.yaml": readRepoFile(t, h.config)},
			order:   []string{"relay.yaml"},
			env:     env,
		})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := []string{"validate"}
			for _, name := range c.order {
				p := filepath.Join(dir, name)
				require.NoError(t, os.WriteFile(p, c.configs[name], 0o600))
				args = append(args, "--config="+p)
			}
			// kubelet_stats' serviceAccount auth reads the pod's CA when it is
			// created, which validate does: off a cluster, auth_type none
			// (as `make validate` does)
			args = append(args, "--config="+config.OffCluster)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = dir
			// only the container's environment: nothing from this shell leaks in
			cmd.Env = []string{"HOME=" + dir}
			keys := make([]string, 0, len(c.env))
			for k := range c.env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				cmd.Env = append(cmd.Env, k+"="+c.env[k])
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s %s\nenv: %s\n%s", bin, strings.Join(args, " "), strings.Join(cmd.Env, " "), out)
		})
	}
}
