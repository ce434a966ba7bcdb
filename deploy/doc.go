// Package deploy holds otelcol-biz's Kubernetes manifests (kubernetes/, a
// kustomize base and overlays) and values files for the official
// opentelemetry-collector Helm chart (helm/). It has no Go code of its own:
// its tests render every overlay with kustomize (as `kubectl apply -k`
// would), decode every object strictly into its typed Kubernetes struct,
// validate the Helm values against the chart's values schema, check that
// ports, paths and env vars agree with config/ and docker/, and run
// `otelcol-biz validate` on every config a manifest loads. See README.md.
package deploy // import "github.com/otelcol-biz/otelcol-biz/deploy"
