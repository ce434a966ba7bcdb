package nezha

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// FaultDuration is how long an injected fault lasts from its InjectTime
// (the dataset README's rule).
const FaultDuration = 3 * time.Minute

// injectTimeLayout is the format of a fault list's "inject_time" (UTC).
const injectTimeLayout = "2006-01-02 15:04:05"

// Fault is one labelled fault injection (one case) of a fault list.
type Fault struct {
	Day        string    // recording day, "2023-01-29"
	InjectTime time.Time // UTC, from "inject_time"; matches file names and span times
	Pod        string    // "inject_pod", e.g. "ts-basic-service-5dc8d4f9fd-46997"
	Service    string    // ServiceOf(Pod): the label to rank
	Type       string    // "inject_type": cpu_contention, network_delay, return or exception
}

// End is when the fault stops: InjectTime plus FaultDuration.
func (f Fault) End() time.Time { return f.InjectTime.Add(FaultDuration) }

// Faults reads rca_data/<day>/<day>-fault_list.json, a JSON object keyed by
// hour ("08") whose values list the faults injected in that hour, and returns
// them sorted by InjectTime. "inject_timestamp" is ignored: it disagrees with
// inject_time (by about -8 h on most 2023-01-29 cases, by ±60 s on others).
func Faults(dir, day string) ([]Fault, error) {
	path := filepath.Join(dir, "rca_data", day, day+"-fault_list.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var byHour map[string][]struct {
		InjectTime string `json:"inject_time"`
		Pod        string `json:"inject_pod"`
		Type       string `json:"inject_type"`
	}
	if err := json.Unmarshal(data, &byHour); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var faults []Fault
	for hour, list := range byHour {
		for i, e := range list {
			t, err := time.ParseInLocation(injectTimeLayout, e.InjectTime, time.UTC)
			if err != nil {
				return nil, fmt.Errorf("%s: hour %s entry %d: inject_time: %w", path, hour, i, err)
			}
			if e.Pod == "" || e.Type == "" {
				return nil, fmt.Errorf("%s: hour %s entry %d: no inject_pod or inject_type", path, hour, i)
			}
			faults = append(faults, Fault{Day: day, InjectTime: t, Pod: e.Pod, Service: ServiceOf(e.Pod), Type: e.Type})
		}
	}
	slices.SortFunc(faults, func(a, b Fault) int {
		return cmp.Or(a.InjectTime.Compare(b.InjectTime), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Type, b.Type))
	})
	return faults, nil
}

// Days lists the recording days present under rca_data ("2023-01-29", ...),
// sorted.
func Days(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "rca_data"))
	if err != nil {
		return nil, err
	}
	var days []string
	for _, e := range entries {
		if _, err := time.Parse(time.DateOnly, e.Name()); e.IsDir() && err == nil {
			days = append(days, e.Name())
		}
	}
	return days, nil // ReadDir sorts by name, which is by date
}
