package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"strconv"
)

// cursor is the position a paginated answer continues from. Clients see it
// only as an opaque string (base64url of this JSON); it carries a digest of
// the query it belongs to, so that a cursor used with other filters is
// refused instead of silently skipping or repeating rows.
type cursor struct {
	V int    `json:"v"`
	Q string `json:"q"`
	// T and I are the (ts µs, id) of the last alert of a page.
	T int64 `json:"t,omitempty"`
	I int64 `json:"i,omitempty"`
	// H is the last host of a page of sources.
	H string `json:"h,omitempty"`
}

const cursorVersion = 1

// queryDigest identifies a query by its filters.
func queryDigest(parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

func (c cursor) encode() string {
	c.V = cursorVersion
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads s, which must belong to the query of digest q.
func decodeCursor(s, q string) (cursor, error) {
	var c cursor
	if len(s) > 1024 {
		return c, badRequest("cursor is not valid: too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, badRequest("cursor is not valid: not a cursor this API returned")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.V != cursorVersion {
		return c, badRequest("cursor is not valid: not a cursor this API returned")
	}
	if c.Q != q {
		return c, badRequest("cursor belongs to another query: repeat the parameters of the request that returned it, changing only cursor")
	}
	return c, nil
}
