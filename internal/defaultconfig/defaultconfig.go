// Package defaultconfig decides when otelcol-biz runs on its embedded default
// configuration. The collector's command has no hook for a default, so, as
// Jaeger's all-in-one does, the embedded YAML is passed as a `yaml:` URI when
// the user gave no --config.
package defaultconfig // import "github.com/otelcol-biz/otelcol-biz/internal/defaultconfig"

import "strings"

// flagsWithValue are the collector's flags that may take their value as the
// next argument, so that value is not mistaken for a subcommand.
var flagsWithValue = map[string]bool{"--config": true, "--set": true, "--feature-gates": true}

// Apply returns args with `--config=yaml:<defaultYAML>` appended when they run
// the collector (no subcommand) or `validate` without any --config flag, and
// reports whether it did.
func Apply(args []string, defaultYAML string) ([]string, bool) {
	subcommand := ""
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, _, _ := strings.Cut(arg, "=")
		if name == "--config" || name == "-config" {
			return args, false
		}
		if strings.HasPrefix(arg, "-") {
			if flagsWithValue[arg] {
				i++
			}
			continue
		}
		if subcommand == "" {
			subcommand = arg
		}
	}
	if subcommand != "" && subcommand != "validate" {
		return args, false
	}
	out := make([]string, 0, len(args)+1)
	out = append(out, args...)
	return append(out, "--config=yaml:"+defaultYAML), true
}
