package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// A dye is the set of business-key values of one trace, encoded in one
// string so that a registry entry holds a single 16-byte header and stamping
// can use substrings without allocating: records of
//
//	[key byte][len hi byte][len lo byte][value bytes]
//
// sorted by key, values of one key in arrival order. Key keyLinked holds the
// hex ids of traces linked by async stitching.
const (
	keyLinked    = 255
	recordHeader = 3
)

// dyeRecord returns the record at offset i and the offset of the next one.
func dyeRecord(d string, i int) (key uint8, value string, next int) {
	n := int(d[i+1])<<8 | int(d[i+2])
	return d[i], d[i+recordHeader : i+recordHeader+n], i + recordHeader + n
}

// dyeHas reports whether d holds value v for key k.
func dyeHas(d string, k uint8, v string) bool {
	for i := 0; i < len(d); {
		key, val, next := dyeRecord(d, i)
		if key == k && val == v {
			return true
		}
		if key > k {
			return false
		}
		i = next
	}
	return false
}

// dyeCount returns the number of values d holds for key k.
func dyeCount(d string, k uint8) int {
	n := 0
	for i := 0; i < len(d); {
		key, _, next := dyeRecord(d, i)
		if key == k {
			n++
		} else if key > k {
			break
		}
		i = next
	}
	return n
}

// dyeAdd returns d with kv added. It reports whether d changed and whether
// the value was dropped because the key already has maxPerKey values.
func dyeAdd(d string, kv keyValue, maxPerKey int) (string, bool, bool) {
	if dyeHas(d, kv.key, kv.value) {
		return d, false, false
	}
	if dyeCount(d, kv.key) >= maxPerKey {
		return d, false, true
	}
	// insert after the last record with key <= kv.key
	at := len(d)
	for i := 0; i < len(d); {
		key, _, next := dyeRecord(d, i)
		if key > kv.key {
			at = i
			break
		}
		i = next
	}
	var b strings.Builder
	b.Grow(len(d) + recordHeader + len(kv.value))
	b.WriteString(d[:at])
	b.WriteByte(kv.key)
	b.WriteByte(byte(len(kv.value) >> 8))
	b.WriteByte(byte(len(kv.value)))
	b.WriteString(kv.value)
	b.WriteString(d[at:])
	return b.String(), true, false
}

// dyeMerge adds every record of src to d.
func dyeMerge(d, src string, maxPerKey int) (string, bool, int) {
	changed, dropped := false, 0
	for i := 0; i < len(src); {
		key, val, next := dyeRecord(src, i)
		var c, drop bool
		d, c, drop = dyeAdd(d, keyValue{key: key, value: val}, maxPerKey)
		changed = changed || c
		if drop {
			dropped++
		}
		i = next
	}
	return d, changed, dropped
}

// stamper writes a dye onto attribute maps, and decides by the keep.when
// rules whether an item also gets the keep attribute. Immutable after
// construction.
type stamper struct {
	attrNames   []string // per key: prefix + name
	linkedAttr  string
	linkKeyAttr string // on a stitched span link: the key that matched
	keepAttr    string
	keep        []keyValue // keep.when rules, values normalised as found values are
	maxValues   int        // max_values_per_key
}

func newStamper(cfg *Config, ext *extractor) *stamper {
	s := &stamper{
		linkedAttr:  cfg.Prefix + "linked_trace_ids",
		linkKeyAttr: cfg.Prefix + "link.key",
		keepAttr:    cfg.Keep.Attribute,
		maxValues:   cfg.MaxValuesPerKey,
	}
	keyIdx := map[string]uint8{}
	for i, k := range cfg.Keys {
		s.attrNames = append(s.attrNames, cfg.Prefix+k.Name)
		keyIdx[k.Name] = uint8(i)
	}
	for _, r := range cfg.Keep.When {
		k := keyIdx[r.Key]
		v, _ := ext.normalise(k, r.Equals)
		s.keep = append(s.keep, keyValue{key: k, value: v})
	}
	return s
}

// keeps reports whether dye matches a keep.when rule.
func (s *stamper) keeps(dye string) bool {
	for _, k := range s.keep {
		if dyeHas(dye, k.key, k.value) {
			return true
		}
	}
	return false
}

// stampOwn dyes an item that has no trace to share keys with by its own
// values, and returns how many were dropped beyond max_values_per_key.
func (s *stamper) stampOwn(attrs pcommon.Map, vals []keyValue) (dropped int64) {
	dye := ""
	for _, kv := range vals {
		var drop bool
		if dye, _, drop = dyeAdd(dye, kv, s.maxValues); drop {
			dropped++
		}
	}
	s.stamp(attrs, dye, s.keeps(dye))
	return dropped
}

// stamp puts the dye's attributes on attrs: a string for a key with one
// value, a string slice for several. The only allocation is attrs growing.
func (s *stamper) stamp(attrs pcommon.Map, d string, keep bool) {
	groups := 0
	for i, last := 0, -1; i < len(d); {
		key, _, next := dyeRecord(d, i)
		if int(key) != last {
			groups++
			last = int(key)
		}
		i = next
	}
	if keep {
		groups++
	}
	attrs.EnsureCapacity(attrs.Len() + groups)
	for i := 0; i < len(d); {
		key, val, next := dyeRecord(d, i)
		name := s.linkedAttr
		if key != keyLinked {
			name = s.attrNames[key]
		}
		// count this key's values
		n, end := 1, next
		for end < len(d) && d[end] == key {
			_, _, end = dyeRecord(d, end)
			n++
		}
		if n == 1 && key != keyLinked {
			attrs.PutStr(name, val)
		} else {
			sl := attrs.PutEmptySlice(name)
			sl.EnsureCapacity(n)
			for j := i; j < end; {
				_, v, nx := dyeRecord(d, j)
				sl.AppendEmpty().SetStr(v)
				j = nx
			}
		}
		i = end
	}
	if keep {
		attrs.PutBool(s.keepAttr, true)
	}
}
