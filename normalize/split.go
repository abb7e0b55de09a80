package normalize

// SplitFix is what a split record's error tells the sender to do.
const SplitFix = "kcat -P sends each line as a record: put one event on one line, or send a JSON array"

// splitRecord says why rec, a trimmed record that is not JSON, looks like a
// piece of an event that a line-oriented producer cut into several records,
// or returns "" when it does not. Such pieces are never joined again: the
// pieces of one event land on any partitions, in any order, among the pieces
// of other senders' events. A record is a piece when it
//   - opens an object or an array and ends before closing it: scanned as
//     JSON, it runs out of bytes before it meets a byte JSON forbids
//     (`{"host":"a",`, `[`, `{"a":[`); or
//   - starts the way the later lines of a cut event start: with '}' or ']',
//     or with an object member, a JSON string followed by ':'
//     (` "ts_event":"2025-10-21T10:00:00Z"}`).
//
// It reads rec once, front to back, and keeps nothing.
func splitRecord(rec []byte) string {
	s := scanner{data: rec}
	switch rec[0] {
	case '{', '[':
		if !s.value(0) && s.errCtx != ctxDepth && s.errPos >= len(rec) {
			return "the record opens a JSON value and ends before closing it; " + SplitFix
		}
	case '}', ']':
		return "the record closes a JSON value that it does not open; " + SplitFix
	case '"':
		if _, ok := s.str(); ok && s.colon() {
			return "the record starts with an object member, the rest of a JSON object opened elsewhere; " + SplitFix
		}
	}
	return ""
}
