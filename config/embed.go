// Package config holds otelcol-biz's configuration files. local.yaml is
// embedded in the binary: it is what the collector runs when started without
// --config (see cmd/otelcol-biz/default_config.go).
package config // import "github.com/otelcol-biz/otelcol-biz/config"

import _ "embed"

// Local is config/local.yaml, the all-in-one default configuration.
//
//go:embed local.yaml
var Local string
