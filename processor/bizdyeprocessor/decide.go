package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// decider merges what batches and held traces say about a trace into the
// registry and the producer index, and decides what happens to the trace's
// items. Its tables are guarded by bizDye.mu.
type decider struct {
	reg       *traceRegistry
	producers *producerIndex
	services  *serviceNames
	st        *stamper // keep rules and the link attribute
	maxValues int      // max_values_per_key
	linkAsync bool
	sampling  bool // every span waits for the trace's `sampling` decision
}

// decideBatch decides every trace of the batch (of spans, or of logs: logs
// are never dropped) and reports whether any item leaves the batch (held or
// dropped).
func (d *decider) decideBatch(sc *batchScratch, now int32, spans bool) bool {
	leaves := false
	for i := range sc.traces {
		t := &sc.traces[i]
		d.decide(t, now, &sc.counts, sc.resSvc)
		if d.sampling {
			t.act = d.sampled(t.act, t.flags, spans)
		}
		leaves = leaves || t.act == actHold || t.act == actDrop
	}
	return leaves
}

// sampled turns act into what `sampling` makes of it: every item of an
// undecided trace waits for the decision; spans of a trace not kept are
// dropped.
func (d *decider) sampled(act action, flags uint8, spans bool) action {
	switch {
	case flags&flagDecided == 0:
		return actHold
	case flags&flagSampled == 0 && spans:
		return actDrop
	case act == actHold: // decided: nothing left to wait for
		return actPass
	}
	return act
}

// recordDecision remembers the `sampling` decision of trace id for its later
// spans (a trace without keys gets a registry entry of its own).
func (d *decider) recordDecision(id pcommon.TraceID, sampled bool, now int32, c *counts) {
	slot := d.reg.lookup(id)
	var e traceEntry
	if slot < 0 {
		var evicted bool
		if slot, evicted = d.reg.add(id, now); evicted {
			c.evicted++
		}
	} else {
		e = *d.reg.at(slot)
	}
	f := e.flags() | flagDecided
	if sampled {
		f |= flagSampled
	}
	*d.reg.at(slot) = newTraceEntry(f, e.dye())
}

// decide merges one batch trace into the registry and decides its action.
func (d *decider) decide(t *batchTrace, now int32, c *counts, resSvc []string) {
	slot := d.reg.lookup(t.id)
	var cur traceEntry
	if slot >= 0 {
		cur = *d.reg.at(slot)
	}
	dye, changed := d.mergeValues(cur.dye(), t, c)
	flags := cur.flags()
	t.flags = flags
	if d.linkAsync && dye != "" && !t.entry.IsEmpty() && flags&(flagStitched|flagAwaiting) == 0 {
		var linked bool
		dye, flags, linked = d.linkEntry(t, dye, flags, c, resSvc)
		changed = changed || linked
	}
	if dye == "" {
		if t.root {
			t.act = actPass
		} else {
			t.act = actHold
		}
		if slot >= 0 { // decided by `sampling`: remembered while spans come
			d.reg.touch(slot, now)
		}
		return
	}
	if changed && d.st.keeps(dye) {
		flags |= flagKeep
	}
	if slot < 0 {
		var evicted bool
		slot, evicted = d.reg.add(t.id, now)
		if evicted {
			c.evicted++
		}
	} else {
		d.reg.touch(slot, now)
	}
	t.late = flags&flagReleased != 0
	if t.root {
		flags |= flagReleased
	}
	var index bool
	var known string
	if d.linkAsync && !t.producer.IsEmpty() {
		index, known = indexPlan(t, cur, flags, changed || flags != cur.flags())
	}
	if index {
		flags |= flagIndexed
		if t.producerKind == ptrace.SpanKindProducer {
			flags |= flagIndexedProducer
		}
	}
	if changed || flags != cur.flags() {
		*d.reg.at(slot) = newTraceEntry(flags, dye)
	}
	t.flags = flags
	t.act, t.dye, t.keep = actStamp, dye, flags&flagKeep != 0
	if flags&flagAwaiting != 0 {
		t.act = actHold // stamped when released (finish)
	}
	if index {
		d.indexProducer(t, dye, known, flags, resSvc)
	}
}

// indexPlan reports whether the batch's PRODUCER/CLIENT span of t goes
// into the producer index, and which of its values are there already with
// a span of that kind or better (cur's dye: indexing them again would find
// the trace's own entries). The spans of one trace come in several batches,
// each with a CLIENT span: looking every value up again was a tenth of the
// gateway's trace path (issue 18). A trace held for its producer, or just
// released from that, is indexed in full (its entries are pending).
func indexPlan(t *batchTrace, cur traceEntry, flags uint8, changed bool) (index bool, known string) {
	was := cur.flags()
	indexed := was&flagIndexedProducer != 0 || t.producerKind != ptrace.SpanKindProducer && was&flagIndexed != 0
	switch {
	case pendingFlags(flags) || pendingFlags(was) || !indexed:
		return true, ""
	case changed:
		return true, cur.dye()
	default:
		return false, ""
	}
}

// mergeValues adds to dye the keys of the traces t links to (a consumer
// inherits its producer's keys over span links) and the values t found.
func (d *decider) mergeValues(dye string, t *batchTrace, c *counts) (string, bool) {
	changed := false
	for _, l := range t.links {
		if li := d.reg.lookup(l); li >= 0 && l != t.id {
			var ch bool
			var dropped int
			dye, ch, dropped = dyeMerge(dye, d.reg.at(li).dye(), d.maxValues)
			changed = changed || ch
			c.tooMany += int64(dropped)
		}
	}
	for _, kv := range t.vals {
		var ch, drop bool
		dye, ch, drop = dyeAdd(dye, kv, d.maxValues)
		changed = changed || ch
		if drop {
			c.tooMany++
		}
	}
	return dye, changed
}

// linkEntry runs link_async for the entry span of a dyed trace that has not
// been stitched: it links the span to the producer span found for its
// values, and holds a CONSUMER root whose producer's trace is unknown or not
// complete yet. It reports whether the dye changed.
func (d *decider) linkEntry(t *batchTrace, dye string, flags uint8, c *counts, resSvc []string) (string, uint8, bool) {
	consumerRoot := t.root && t.entryKind == ptrace.SpanKindConsumer
	ref, key, ok := d.producers.find(t.id, dye, t.entryKind)
	switch {
	case ok:
		flags |= flagStitched
		t.link, t.linkT, t.linkK = ref.span, ref.trace, key
		dye = d.stitch(dye, ref, c, d.services.id(svcAt(resSvc, t.entryRes)))
		if consumerRoot && d.rootPending(ref.trace) {
			// Keys such as canary often sit on the producer's root span,
			// which ends after the publish: hold the consumer up to wait
			// and merge its producer's keys again when it is released.
			flags |= flagAwaiting
			t.await = true
		}
		return dye, flags, true
	case consumerRoot:
		// Behind Kafka the producer's trace may reach this replica after
		// the consumer's (partitions are consumed independently): hold the
		// consumer trace up to wait and look again when it is released.
		t.await = true
		return dye, flags | flagAwaiting, false
	default:
		return dye, flags | flagStitched, false
	}
}

// indexProducer indexes the trace's own PRODUCER or CLIENT span under its
// values. A trace held for its own producer is indexed as pending, and
// indexed again when released.
func (d *decider) indexProducer(t *batchTrace, dye, known string, flags uint8, resSvc []string) {
	ref := producerRef{trace: t.id, span: t.producer, kind: t.producerKind, service: d.services.id(svcAt(resSvc, t.producerRes)),
		pending: pendingFlags(flags)}
	d.producers.add(ref, dye, known)
	if ref.pending {
		t.pending = ref
	}
}

// pendingFlags reports whether a trace with these registry flags is held
// for its own producer and not linked yet: its producer index entries are
// pending.
func pendingFlags(f uint8) bool { return f&(flagAwaiting|flagStitched) == flagAwaiting }

func svcAt(resSvc []string, i int) string {
	if i < 0 || i >= len(resSvc) {
		return ""
	}
	return resSvc[i]
}

// rootPending reports whether trace id is dyed but not complete: its root
// span has not arrived, or it is itself held for its producer.
func (d *decider) rootPending(id pcommon.TraceID) bool {
	slot := d.reg.lookup(id)
	if slot < 0 {
		return false
	}
	f := d.reg.at(slot).flags()
	return f&flagReleased == 0 || f&flagAwaiting != 0
}

// stitch adds a producer trace's keys and id to dye and counts the hop.
func (d *decider) stitch(dye string, ref producerRef, c *counts, child uint16) string {
	dye = d.mergeKeys(dye, ref.trace, c)
	dye, _, _ = dyeAdd(dye, keyValue{key: keyLinked, value: ref.trace.String()}, d.maxValues)
	c.stitched = append(c.stitched, stitchedHop{parent: ref.service, child: child})
	return dye
}

// mergeKeys adds the keys trace id has now to dye.
func (d *decider) mergeKeys(dye string, id pcommon.TraceID, c *counts) string {
	if pi := d.reg.lookup(id); pi >= 0 {
		var dropped int
		dye, _, dropped = dyeMerge(dye, d.reg.at(pi).dye(), d.maxValues)
		c.tooMany += int64(dropped)
	}
	return dye
}

// finish prepares a held trace for release: a trace that was awaiting its
// producer looks for it once more (and links its entry span when found) and
// indexes its own producer span. It returns the dye to stamp the trace
// with, and false when the trace was never dyed (it leaves unchanged).
func (d *decider) finish(ht *heldTrace, c *counts) (dye string, keep, dyed bool) {
	slot := d.reg.lookup(ht.id)
	if slot < 0 {
		// an awaiting trace evicted from a full registry keeps the link it
		// made on arrival
		if !ht.linkedTo.trace.IsEmpty() {
			ht.link(ht.awaitEntry, ht.linkedTo, d.st.linkKeyAttr, ht.linkedKey)
		}
		return "", false, false
	}
	e := *d.reg.at(slot)
	flags, dye := e.flags(), e.dye()
	if flags&flagAwaiting != 0 {
		flags = flags&^flagAwaiting | flagStitched
		if !ht.linkedTo.trace.IsEmpty() {
			// linked on arrival, its producer's trace incomplete: the keys
			// that trace found since
			dye = d.mergeKeys(dye, ht.linkedTo.trace, c)
			ht.link(ht.awaitEntry, ht.linkedTo, d.st.linkKeyAttr, ht.linkedKey)
		} else if ref, key, ok := d.producers.find(ht.id, dye, ptrace.SpanKindConsumer); ok {
			dye = d.stitch(dye, ref, c, ht.awaitSvc)
			ht.link(ht.awaitEntry, ref, d.st.linkKeyAttr, key)
		}
		if d.st.keeps(dye) {
			flags |= flagKeep
		}
		*d.reg.at(slot) = newTraceEntry(flags, dye)
		if r := ht.producer; !r.span.IsEmpty() {
			r.pending = false
			d.producers.add(r, dye, "") // linked now: the next hop of its flow
		}
	}
	return dye, flags&flagKeep != 0, true
}
