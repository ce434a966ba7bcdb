package defaultconfig

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestApply(t *testing.T) {
	const def = "receivers: {}"
	withDefault := func(args ...string) []string { return append(args, "--config=yaml:"+def) }
	tests := []struct {
		name     string
		args     []string
		want     []string
		injected bool
	}{
		{name: "no args runs the default", args: nil, want: withDefault(), injected: true},
		{name: "feature gates only", args: []string{"--feature-gates", "foo"}, want: withDefault("--feature-gates", "foo"), injected: true},
		{name: "set without config merges into the default", args: []string{"--set=processors::batch::timeout=2s"}, want: withDefault("--set=processors::batch::timeout=2s"), injected: true},
		{name: "validate without config validates the default", args: []string{"validate"}, want: withDefault("validate"), injected: true},
		{name: "config flag", args: []string{"--config", "c.yaml"}, want: []string{"--config", "c.yaml"}},
		{name: "config flag with equals", args: []string{"--config=c.yaml"}, want: []string{"--config=c.yaml"}},
		{name: "validate with config", args: []string{"validate", "--config=c.yaml"}, want: []string{"validate", "--config=c.yaml"}},
		{name: "components subcommand", args: []string{"components"}, want: []string{"components"}},
		{name: "help subcommand", args: []string{"help"}, want: []string{"help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, injected := Apply(tt.args, def)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.injected, injected)
		})
	}
}
