package tables

import (
	"encoding/json"
	"fmt"
)

// SourceMeta is the value of meta.source.v1, keyed by tenant/host: what users
// say about a source. It is JSON so that anyone can write it with kcat.
type SourceMeta struct {
	Owner   string            `json:"owner,omitempty"`
	Region  string            `json:"region,omitempty"`
	Service string            `json:"service,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// ParseSourceMeta decodes a metadata record; unknown fields are ignored so
// that producers may add their own.
func ParseSourceMeta(data []byte) (*SourceMeta, error) {
	var m SourceMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("source metadata: %w", err)
	}
	return &m, nil
}

// Map flattens the metadata for templates and JSON: owner, region, service
// and every tag.
func (m *SourceMeta) Map() map[string]string {
	out := map[string]string{}
	if m == nil {
		return out
	}
	for k, v := range m.Tags {
		out[k] = v
	}
	if m.Owner != "" {
		out["owner"] = m.Owner
	}
	if m.Region != "" {
		out["region"] = m.Region
	}
	if m.Service != "" {
		out["service"] = m.Service
	}
	return out
}

// appendOptionalMeta encodes metadata that may be absent.
func appendOptionalMeta(b []byte, m *SourceMeta) []byte {
	if m == nil {
		return append(b, 0)
	}
	return m.appendBinary(append(b, 1))
}

// optionalMeta decodes what appendOptionalMeta encoded.
func (r *reader) optionalMeta() *SourceMeta {
	switch r.byte("meta flag") {
	case 0:
		return nil
	case 1:
		return r.meta()
	}
	r.fail("meta flag")
	return nil
}

func (m *SourceMeta) appendBinary(b []byte) []byte {
	b = appendString(b, m.Owner)
	b = appendString(b, m.Region)
	b = appendString(b, m.Service)
	return appendTags(b, TagsFromMap(m.Tags))
}

func (r *reader) meta() *SourceMeta {
	m := &SourceMeta{
		Owner:   r.string("meta owner"),
		Region:  r.string("meta region"),
		Service: r.string("meta service"),
	}
	if t := r.tags(); len(t) > 0 {
		m.Tags = t.Map()
	}
	return m
}
