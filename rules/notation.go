package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxSeriesValues bounds the expansion of one input series of a rule test.
const maxSeriesValues = 1_000_000

// seriesValue is one step of an input series: a value, or a gap.
type seriesValue struct {
	v   float64
	gap bool
}

// parseSeriesValues expands promtool's notation for input series, one
// interval per item:
//
//	"1 2 3"      the values 1, 2, 3
//	"_"          a gap (no sample at that step)
//	"_x3"        three gaps
//	"a+bxn"      a, a+b, ..., a+n*b (n+1 values); "a-bxn" counts down
//	"axn"        a repeated n+1 times
func parseSeriesValues(s string) ([]seriesValue, error) {
	var out []seriesValue
	for _, tok := range strings.Fields(s) {
		vals, err := expandToken(tok, maxSeriesValues-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, vals...)
	}
	return out, nil
}

func expandToken(tok string, budget int) ([]seriesValue, error) {
	if tok == "_" {
		return []seriesValue{{gap: true}}, nil
	}
	if tok == "stale" {
		return nil, fmt.Errorf("values: %q: stale markers are not supported (use _ for a gap)", tok)
	}
	x := strings.LastIndexByte(tok, 'x')
	if x <= 0 {
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return nil, fmt.Errorf("values: %q: not a number", tok)
		}
		return []seriesValue{{v: v}}, nil
	}
	n, err := strconv.Atoi(tok[x+1:])
	if err != nil || n < 0 {
		return nil, fmt.Errorf("values: %q: bad repetition count", tok)
	}
	head := tok[:x]
	if head == "_" {
		if n > budget {
			return nil, fmt.Errorf("values: more than %d values", maxSeriesValues)
		}
		out := make([]seriesValue, n)
		for i := range out {
			out[i].gap = true
		}
		return out, nil
	}
	// Split "a+b" / "a-b" at the operator, skipping a leading sign and the
	// sign of an exponent ("1e-3+1x2").
	op := -1
	for i := 1; i < len(head); i++ {
		if (head[i] == '+' || head[i] == '-') && head[i-1] != 'e' && head[i-1] != 'E' {
			op = i
			break
		}
	}
	var a, b float64
	if op < 0 {
		a, err = strconv.ParseFloat(head, 64)
	} else {
		a, err = strconv.ParseFloat(head[:op], 64)
		if err == nil {
			b, err = strconv.ParseFloat(head[op:], 64)
		}
	}
	if err != nil || math.IsNaN(b) || math.IsInf(b, 0) {
		return nil, fmt.Errorf("values: %q: want a+bxn, a-bxn or axn", tok)
	}
	if n+1 > budget {
		return nil, fmt.Errorf("values: more than %d values", maxSeriesValues)
	}
	out := make([]seriesValue, n+1)
	for i := range out {
		out[i].v = a + float64(i)*b
	}
	return out, nil
}
