package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import "strings"

const (
	serviceOther   = "_other"
	serviceUnknown = "unknown"
)

// serviceNames interns service names used as metric attributes, bounded by
// max_services: names beyond the bound are reported as "_other".
type serviceNames struct {
	ids   map[string]uint16
	names []string
	max   int
}

func newServiceNames(maxServices int) *serviceNames {
	s := &serviceNames{ids: map[string]uint16{}, max: min(maxServices, 65000)}
	s.names = append(s.names, serviceUnknown, serviceOther)
	s.ids[serviceUnknown] = 0
	return s
}

func (s *serviceNames) id(name string) uint16 {
	if name == "" {
		return 0
	}
	if id, ok := s.ids[name]; ok {
		return id
	}
	if len(s.names)-2 >= s.max {
		return 1
	}
	name = strings.Clone(name) // do not pin the incoming batch's memory
	s.names = append(s.names, name)
	s.ids[name] = uint16(len(s.names) - 1)
	return uint16(len(s.names) - 1)
}

func (s *serviceNames) name(id uint16) string { return s.names[id] }
