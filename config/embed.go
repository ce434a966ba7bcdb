// Package config holds otelcol-biz's configuration files. local.yaml is
// embedded in the binary: it is what the collector runs when started without
// --config (see cmd/otelcol-biz/default_config.go).
package config // import "github.com/otelcol-biz/otelcol-biz/config"

import _ "embed"

// OffCluster is the --config that lets `validate` build agent.yaml away from
// a cluster: kubelet_stats' serviceAccount auth reads the pod's CA when the
// receiver is created (the Makefile's VALIDATE_OFF_CLUSTER says the same).
const OffCluster = "yaml:receivers::kubelet_stats::auth_type: none"

// Local is config/local.yaml, the all-in-one default configuration.
//
//go:embed local.yaml
var Local string
