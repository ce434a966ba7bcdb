package nezha

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dataDir(t testing.TB) string {
	t.Helper()
	dir, err := Dir(repoRoot())
	require.NoError(t, err)
	return dir
}

func TestDays(t *testing.T) {
	days, err := Days(dataDir(t))
	require.NoError(t, err)
	assert.Equal(t, []string{"2023-01-29", "2023-01-30"}, days)
}

func TestFaults(t *testing.T) {
	dir := dataDir(t)
	for _, tc := range []struct {
		day   string
		n     int
		types map[string]int
	}{ // the README's table
		{"2023-01-29", 19, map[string]int{"return": 7, "exception": 9, "cpu_contention": 3}},
		{"2023-01-30", 11, map[string]int{"network_delay": 9, "cpu_contention": 2}},
	} {
		t.Run(tc.day, func(t *testing.T) {
			faults, err := Faults(dir, tc.day)
			require.NoError(t, err)
			require.Len(t, faults, tc.n)
			types := map[string]int{}
			for i, f := range faults {
				types[f.Type]++
				assert.Equal(t, tc.day, f.Day)
				assert.Equal(t, time.UTC, f.InjectTime.Location())
				assert.Equal(t, tc.day, f.InjectTime.Format(time.DateOnly))
				assert.Equal(t, ServiceOf(f.Pod), f.Service)
				assert.Contains(t, f.Service, "ts-")
				assert.Equal(t, 3*time.Minute, f.End().Sub(f.InjectTime))
				if i > 0 {
					assert.False(t, f.InjectTime.Before(faults[i-1].InjectTime), "sorted")
				}
			}
			assert.Equal(t, tc.types, types)
		})
	}
	faults, err := Faults(dir, "2023-01-29")
	require.NoError(t, err)
	assert.Equal(t, Fault{
		Day: "2023-01-29", InjectTime: time.Date(2023, 1, 29, 8, 43, 4, 0, time.UTC),
		Pod: "ts-contacts-service-866bd68c97-xcqfx", Service: "ts-contacts-service", Type: "return",
	}, faults[0])

	_, err = Faults(dir, "1999-01-01")
	assert.Error(t, err)
}
