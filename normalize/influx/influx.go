package influx

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
)

// DroppedStringFields counts the string fields left out.
const DroppedStringFields = "string_fields"

// Options of a decoding.
type Options struct {
	// Tenant of every line.
	Tenant string
	// Precision of the timestamps (default time.Nanosecond).
	Precision time.Duration
}

// ParsePrecision reads a precision parameter: ns, us (or u, µs), ms, s,
// and /write's n, m and h. Empty is nanoseconds.
func ParsePrecision(s string) (time.Duration, error) {
	switch s {
	case "", "ns", "n":
		return time.Nanosecond, nil
	case "us", "u", "µs":
		return time.Microsecond, nil
	case "ms":
		return time.Millisecond, nil
	case "s":
		return time.Second, nil
	case "m":
		return time.Minute, nil
	case "h":
		return time.Hour, nil
	}
	return 0, fmt.Errorf("precision %q is not one of ns, us, ms, s (and n, u, m, h on /write)", s)
}

// Decode maps every line of body.
func Decode(body []byte, o Options) normalize.Decoded {
	if o.Precision <= 0 {
		o.Precision = time.Nanosecond
	}
	var d normalize.Decoded
	var l line
	n := 0
	for rest := body; len(rest) > 0; {
		var text []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			text, rest = rest[:i], rest[i+1:]
		} else {
			text, rest = rest, nil
		}
		n++
		if t := bytes.TrimSpace(text); len(t) == 0 || t[0] == '#' {
			continue
		}
		if err := l.parse(text, o); err != "" {
			d.Refused = append(d.Refused, normalize.Rejected{
				Err: &normalize.Error{Reason: normalize.ReasonInvalidLine, Index: n, Msg: fmt.Sprintf("line %d: %s", n, err)},
				Raw: bytes.Clone(text)})
			continue
		}
		d.Drop(DroppedStringFields, l.strings)
		for _, f := range l.fields {
			name := l.measurement
			if f.key != "value" {
				name += "_" + f.key
			}
			name = metricName(name)
			p := normalize.Point{Tenant: o.Tenant, Host: l.host, Metric: name, Value: f.v, TimeNano: l.ns, Tags: l.tags, Index: n}
			switch {
			case l.host == "":
				d.Refuse(p, normalize.ReasonMissingField, "line %d has no host tag to name its host", n)
			case p.Tenant == "":
				d.Refuse(p, normalize.ReasonMissingField, "no tenant: send a tenant's API key, or org (db on /write) or X-Scope-OrgID with an admin key or open access")
			default:
				d.Points = append(d.Points, p)
			}
		}
	}
	return d
}

// line is one parsed line. Its tags are shared by the points of its fields.
type line struct {
	measurement string
	host        string
	tags        tables.Tags
	fields      []field
	strings     int
	ns          int64
}

type field struct {
	key string
	v   float64
}

// parse reads one line, or says why it is not line protocol.
func (l *line) parse(text []byte, o Options) string {
	*l = line{fields: l.fields[:0]}
	dec := lineprotocol.NewDecoderWithBytes(text)
	if !dec.Next() {
		return "no entry"
	}
	m, err := dec.Measurement()
	if err != nil {
		return errText(err)
	}
	l.measurement = string(m)
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return errText(err)
		}
		if k == nil {
			break
		}
		if string(k) == "host" {
			l.host = string(v)
			continue
		}
		l.tags = append(l.tags, tables.Tag{Key: string(k), Value: string(v)})
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return errText(err)
		}
		if k == nil {
			break
		}
		var f float64
		switch v.Kind() {
		case lineprotocol.Float:
			f = v.FloatV()
		case lineprotocol.Int:
			f = float64(v.IntV())
		case lineprotocol.Uint:
			f = float64(v.UintV())
		case lineprotocol.Bool:
			if v.BoolV() {
				f = 1
			}
		default:
			l.strings++
			continue
		}
		l.fields = append(l.fields, field{key: string(k), v: f})
	}
	ts, err := dec.TimeBytes()
	if err != nil {
		return errText(err)
	}
	if ts != nil {
		x, err := strconv.ParseInt(string(ts), 10, 64)
		if err != nil {
			return fmt.Sprintf("timestamp %q is not an integer", ts)
		}
		p := int64(o.Precision)
		if x != 0 && (x*p/p != x) {
			return fmt.Sprintf("timestamp %d in %s is out of range", x, o.Precision)
		}
		l.ns = x * p
		if l.ns == 0 {
			l.ns = 1 // the epoch itself, not "no time"
		}
	}
	if dec.Next() {
		return "more than one entry"
	}
	return ""
}

// errText is the parser's message without the line position, which is
// the position in a line of its own.
func errText(err error) string {
	if de, ok := err.(*lineprotocol.DecodeError); ok {
		return fmt.Sprintf("column %d: %v", de.Column, de.Err)
	}
	return err.Error()
}

// metricName makes a Prometheus metric name of a measurement and field,
// as Telegraf's Prometheus serializer does: every character but letters,
// digits, '_' and ':' becomes '_' ("disk io,x" → "disk_io_x").
func metricName(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':') {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ':') {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}
