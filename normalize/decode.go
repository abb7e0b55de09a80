package normalize

import (
	"bytes"
	"strings"
)

// field is a member of an event that Parse reads. The string fields come
// first, up to fUnit.
type field uint8

const (
	fUnknown field = iota
	fTenantID
	fTenant
	fHost
	fHostname
	fSource
	fSourceID
	fMetric
	fName
	fUnit
	fValue
	fTsEvent
	fTs
	fTimestamp
	fTime
	fTags
	numFields
)

// String is a field's name as encoding/json's type errors call it:
// the struct tag, or the Go name "Value" of the field that had none.
func (f field) String() string {
	switch f {
	case fTenantID:
		return "tenant_id"
	case fTenant:
		return "tenant"
	case fHost:
		return "host"
	case fHostname:
		return "hostname"
	case fSource:
		return "source"
	case fSourceID:
		return "source_id"
	case fMetric:
		return "metric"
	case fName:
		return "name"
	case fUnit:
		return "unit"
	case fValue:
		return "Value"
	case fTsEvent:
		return "ts_event"
	case fTs:
		return "ts"
	case fTimestamp:
		return "timestamp"
	case fTime:
		return "time"
	case fTags:
		return "tags"
	}
	return ""
}

// lookupField finds the field a key names. encoding/json, which Parse used to
// decode with, matches a key that names no field exactly to one whose name it
// equals under Unicode simple case folding ("TENANT_ID", and "ho\u017Ft" with
// a long s, both fill a field): agents may rely on it, so it is kept.
func lookupField(key []byte) field {
	switch string(key) {
	case "tenant_id":
		return fTenantID
	case "tenant":
		return fTenant
	case "host":
		return fHost
	case "hostname":
		return fHostname
	case "source":
		return fSource
	case "source_id":
		return fSourceID
	case "metric":
		return fMetric
	case "name":
		return fName
	case "unit":
		return fUnit
	case "value", "Value":
		return fValue
	case "ts_event":
		return fTsEvent
	case "ts":
		return fTs
	case "timestamp":
		return fTimestamp
	case "time":
		return fTime
	case "tags":
		return fTags
	}
	// A folded name is at most 9 bytes, and no rune folds to an ASCII letter
	// from more than 3 bytes.
	if len(key) < 2 || len(key) > 27 {
		return fUnknown
	}
	k := string(key)
	for f := fTenantID; f < numFields; f++ {
		if strings.EqualFold(k, f.String()) {
			return f
		}
	}
	return fUnknown
}

// span is where a value lies: in the scanned record for raw values, in the
// decoder's buffer for decoded strings.
type span struct{ off, end int }

// Kinds of tag value.
const (
	tagText   = iota // a string, or a boolean kept as written
	tagNumber        // a number as written, named by its canonical text
	tagNull          // dropped
	tagNested        // an object or array: refused
)

type tagEntry struct {
	key, val span // in the buffer
	kind     uint8
}

// decoder reads one event at a time into what encoding/json would have made
// of it: the last occurrence of each field, the first type error. Decoded
// strings go to buf, reused from event to event.
type decoder struct {
	s    scanner
	buf  byteBuf
	tags list[tagEntry]
	has  uint32          // fields present (for string fields: not null)
	str  [fUnit + 1]span // string fields, in buf
	raw  [numFields]span // value, time and tags fields as written, in s.data

	typeErr  field // the first member of a string field that was not a string
	typeKind string

	num []byte // the canonical text of a numeric tag, reused
}

func (d *decoder) set(f field) bool { return d.has&(1<<f) != 0 }

// event reads the object at d.s.pos inside depth containers. It reports
// false for a syntax error; what the members mean is judged later.
func (d *decoder) event(depth int) bool {
	s := &d.s
	d.buf.truncate(0)
	d.tags.reset()
	d.has, d.typeErr = 0, fUnknown
	depth++
	if done, ok := s.open(depth); done || !ok {
		return ok
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.fail(ctxKey)
		}
		start := s.pos
		escaped, ok := s.str()
		if !ok {
			return false
		}
		key := s.data[start+1 : s.pos-1]
		var f field
		if escaped {
			n := d.buf.len()
			d.unescape(key)
			f = lookupField(d.buf.bytes(span{n, d.buf.len()}))
			d.buf.truncate(n)
		} else {
			f = lookupField(key)
		}
		if !s.colon() || !d.member(f, depth) {
			return false
		}
		more, ok := s.next('}', ctxObjNext)
		if !more {
			return ok
		}
	}
}

// member reads the value of field f.
func (d *decoder) member(f field, depth int) bool {
	s := &d.s
	if f == fUnknown {
		return s.value(depth)
	}
	if s.pos >= len(s.data) {
		return s.fail(ctxValue)
	}
	c := s.data[s.pos]
	switch {
	case f <= fUnit && c == '"':
		off := d.buf.len()
		if !d.decodeString() {
			return false
		}
		d.str[f] = span{off, d.buf.len()}
		d.has |= 1 << f
		return true
	case f <= fUnit && c == 'n':
		d.has &^= 1 << f
		return s.literal("null", ctxNull)
	case f <= fUnit:
		if !s.value(depth) {
			return false
		}
		if d.typeErr == fUnknown {
			d.typeErr, d.typeKind = f, kindOf(c)
		}
		return true
	case f == fTags && c == '{':
		start := s.pos
		if !d.tagsObject(depth + 1) {
			return false
		}
		d.raw[f] = span{start, s.pos}
		d.has |= 1 << f
		return true
	default:
		start := s.pos
		if !s.value(depth) {
			return false
		}
		d.raw[f] = span{start, s.pos}
		d.has |= 1 << f
		return true
	}
}

// kindOf names the JSON type of a value by its first byte, as encoding/json's
// type errors do.
func kindOf(c byte) string {
	switch c {
	case 't', 'f':
		return "bool"
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	}
	return "number"
}

// decodeString appends the content of the string at s.pos to buf.
func (d *decoder) decodeString() bool {
	s := &d.s
	start := s.pos
	escaped, ok := s.str()
	if !ok {
		return false
	}
	if escaped {
		d.unescape(s.data[start+1 : s.pos-1])
	} else {
		d.buf.append(s.data[start+1 : s.pos-1])
	}
	return true
}

// unescape appends the decoded content of a string to buf: never longer
// than the content, so it fits the room asked for.
func (d *decoder) unescape(content []byte) {
	d.buf.commit(len(unescape(d.buf.room(len(content)), content)))
}

// tagsObject reads the tags object, the depth-th container, into d.tags
// (replacing the tags of an earlier "tags" member).
func (d *decoder) tagsObject(depth int) bool {
	s := &d.s
	d.tags.reset()
	if done, ok := s.open(depth); done || !ok {
		return ok
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.fail(ctxKey)
		}
		var t tagEntry
		t.key.off = d.buf.len()
		if !d.decodeString() || !s.colon() {
			return false
		}
		t.key.end = d.buf.len()
		t.val.off = d.buf.len()
		if s.pos >= len(s.data) {
			return s.fail(ctxValue)
		}
		switch start := s.pos; s.data[start] {
		case '"':
			if !d.decodeString() {
				return false
			}
		case 'n':
			if !s.literal("null", ctxNull) {
				return false
			}
			t.kind = tagNull
		case '{', '[':
			if !s.value(depth) {
				return false
			}
			t.kind = tagNested
		default:
			if !s.value(depth) {
				return false
			}
			if c := s.data[start]; c == '-' || c >= '0' && c <= '9' {
				t.kind = tagNumber
			}
			d.buf.append(s.data[start:s.pos])
		}
		t.val.end = d.buf.len()
		d.tags.add(t)
		more, ok := s.next('}', ctxObjNext)
		if !more {
			return ok
		}
	}
}

// rawString returns the content of a string value as written in the record,
// decoded into the buffer if it has escapes.
func (d *decoder) rawString(raw []byte) []byte {
	content := raw[1 : len(raw)-1]
	if bytes.IndexByte(content, '\\') < 0 {
		return content
	}
	n := d.buf.len()
	d.unescape(content)
	return d.buf.bytes(span{n, d.buf.len()})
}
