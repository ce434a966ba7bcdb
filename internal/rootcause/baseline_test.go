package rootcause

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHold: an anomaly is kept out of the baseline for at most a baseline
// of windows, and the hold re-arms only after a baseline of normal windows.
func TestHold(t *testing.T) {
	const baselineWindows = 3
	tests := []struct {
		name      string
		anomalous string // one window per letter: a anomalous, n normal
		kept      string // k kept out, - folded
	}{
		{"short anomaly", "nnaann", "--kk--"},
		{"a change that lasts is the new normal", "aaaaa", "kkk--"},
		{"its end is no news", "aaaanann", "kkk-----"},
		{"re-armed after a baseline of normal windows", "aaaannnaa", "kkk----kk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hold
			got := make([]byte, len(tt.anomalous))
			for i := range tt.anomalous {
				got[i] = '-'
				if h.keep(tt.anomalous[i] == 'a', baselineWindows) {
					got[i] = 'k'
				}
			}
			assert.Equal(t, tt.kept, string(got))
		})
	}
}
