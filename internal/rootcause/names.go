package rootcause

import "strings"

// names interns strings (services, pods, operations) into dense ids up to a
// bound; beyond it a new name maps to overflowID, which the caller counts.
// Ids not seen for a while are released (sweep) and reused, so pods that
// come and go with deployments do not fill the table for good.
type names struct {
	ids      map[string]int32
	list     []string
	lastSeen []int64 // window start of the last use, per id
	free     []int32
	limit    int
}

const overflowID = -1

func newNames(limit int) *names { return &names{ids: map[string]int32{}, limit: limit} }

// id returns s's id, marking it used in the window starting at now.
func (n *names) id(s string, now int64) int32 {
	if id, ok := n.ids[s]; ok {
		if n.lastSeen[id] < now {
			n.lastSeen[id] = now
		}
		return id
	}
	s = strings.Clone(s) // s may alias a pdata buffer
	if k := len(n.free); k > 0 {
		id := n.free[k-1]
		n.free = n.free[:k-1]
		n.ids[s], n.list[id], n.lastSeen[id] = id, s, now
		return id
	}
	if len(n.list) >= n.limit {
		return overflowID
	}
	id := int32(len(n.list))
	n.ids[s] = id
	n.list = append(n.list, s)
	n.lastSeen = append(n.lastSeen, now)
	return id
}

func (n *names) name(id int32) string {
	if id < 0 || int(id) >= len(n.list) {
		return "_other"
	}
	return n.list[id]
}

// sweep releases the ids last used before cutoff and calls release for each.
func (n *names) sweep(cutoff int64, release func(int32)) {
	for id, seen := range n.lastSeen {
		if seen < cutoff && n.list[id] != "" {
			delete(n.ids, n.list[id])
			n.list[id] = ""
			n.free = append(n.free, int32(id))
			release(int32(id))
		}
	}
}

func (n *names) len() int { return len(n.ids) }
