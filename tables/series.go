package tables

import (
	"crypto/md5"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/eventops/eventops/rules"
)

// A series is one metric of one source with one set of tags: (tenant, host,
// metric, tags). Two samples of a metric that differ in any tag are two
// series, stored in two rows, folded into two feature windows and judged as
// two alerts. The source's metadata (owner, region, service, catalog tags)
// describes the source, which tenant/host already name: it is not part of
// a series.
//
// A series is named by its canonical text, metric{key="value",...} with the
// tags in key order (a key escapes \ and = with a backslash, a value \ and
// "), the metric alone for a series without tags, and identified by
// SeriesID, a hash of that text that PostgreSQL computes the same way
// (eventops_series_id).

// AppendSeriesName appends the canonical name of the series of metric with
// tags (sorted by key) to dst.
func AppendSeriesName(dst []byte, metric string, tags Tags) []byte {
	dst = append(dst, metric...)
	if len(tags) == 0 {
		return dst
	}
	dst = append(dst, '{')
	for i, t := range tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, t.Key, '=')
		dst = append(dst, '=', '"')
		dst = appendEscaped(dst, t.Value, '"')
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

func appendEscaped(dst []byte, s string, special byte) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == special {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// SeriesName is the canonical name of a series, e.g. cpu_load{core="0"},
// or cpu_load without tags.
func SeriesName(metric string, tags Tags) string {
	return string(AppendSeriesName(nil, metric, tags))
}

// SeriesID identifies a series within its source: the first 8 bytes of the
// MD5 of its canonical name, as a signed big-endian integer (PostgreSQL's
// BIGINT). It is stable across versions and replicas.
func SeriesID(metric string, tags Tags) int64 {
	var buf [128]byte
	sum := md5.Sum(AppendSeriesName(buf[:0], metric, tags))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// Equal reports whether two key-sorted tag lists are the same.
func (t Tags) Equal(u Tags) bool { return slices.Equal(t, u) }

// Compare orders key-sorted tag lists: by each tag's key then value, a
// shorter list first when it is a prefix of the other.
func (t Tags) Compare(u Tags) int {
	return slices.CompareFunc(t, u, func(a, b Tag) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
}

// Get returns the value of key and whether the tags have it.
func (t Tags) Get(key string) (string, bool) {
	i, ok := slices.BinarySearchFunc(t, key, func(a Tag, k string) int { return strings.Compare(a.Key, k) })
	if !ok {
		return "", false
	}
	return t[i].Value, true
}

// Labels returns the tags as rule labels (the same order).
func (t Tags) Labels() []rules.Label {
	if len(t) == 0 {
		return nil
	}
	out := make([]rules.Label, len(t))
	for i, tag := range t {
		out[i] = rules.Label{Name: tag.Key, Value: tag.Value}
	}
	return out
}
