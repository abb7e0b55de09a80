package rules

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem of a rule or rule-test file, at a line of it.
type Error struct {
	File string
	Line int // 1-based; 0 when the problem has no position
	Msg  string
}

// Error formats the problem as FILE:LINE: message.
func (e Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Errors is every problem found while loading, in file order then line order.
// Loading returns it (as an error) so that a user fixes a file in one pass.
type Errors []Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sortErrors orders errors by the order files were given, then by line, keeping
// discovery order for problems of one line, and drops repeated messages.
func sortErrors(es Errors, files []string) Errors {
	rank := make(map[string]int, len(files))
	for i, f := range files {
		if _, ok := rank[f]; !ok {
			rank[f] = i
		}
	}
	slices.SortStableFunc(es, func(a, b Error) int {
		if c := cmp.Compare(rank[a.File], rank[b.File]); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return slices.CompactFunc(es, func(a, b Error) bool { return a == b })
}
