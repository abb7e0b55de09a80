package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Incomplete reports whether rec is a JSON object or array cut short: valid
// as far as it goes, but ending before it closes. Line-oriented producers cut
// a pretty-printed event into such pieces (kcat makes every input line a
// record), and the ingest stage joins a piece with the records that follow it.
func Incomplete(rec []byte) bool {
	rec = bytes.TrimSpace(rec)
	if len(rec) == 0 || (rec[0] != '{' && rec[0] != '[') {
		return false
	}
	var v json.RawMessage
	err := json.Unmarshal(rec, &v)
	var se *json.SyntaxError
	return errors.As(err, &se) && se.Offset >= int64(len(rec)) && se.Error() == "unexpected end of JSON input"
}

// Join appends a continuation record to the pieces gathered so far.
func Join(pieces, next []byte) []byte {
	out := make([]byte, 0, len(pieces)+1+len(next))
	out = append(out, pieces...)
	out = append(out, '\n')
	return append(out, next...)
}
