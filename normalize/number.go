package normalize

import "math"

// A tag whose value is a JSON number is named by the number, not by how it
// was written: 1, 1.0, 1e0 and 1.00 are the tag value "1", and 1e-05 and
// 0.00001 are "0.00001". The canonical text is the number in plain decimal
// notation: no exponent, no leading zeros but the one before a point, no
// trailing zeros after a point and no point without digits after it, and no
// sign on zero. It is the text PostgreSQL gives the same JSON number with
// trim_scale(value::numeric)::text, which eventops_series_id uses, so a
// series has one series_id whether EventOps or PostgreSQL computes it.

// NumberText is the canonical text of num, a valid JSON number as
// PostgreSQL stores it in a jsonb (whose numbers are at most 131072 digits
// before the point and 16383 after).
func NumberText(num []byte) string {
	b, _ := appendCanonicalNumber(nil, num, math.MaxInt)
	return string(b)
}

// maxExp bounds the exponent read: any larger gives a text far beyond
// any tag length.
const maxExp = 1 << 40

// appendCanonicalNumber appends the canonical text of num, a valid JSON
// number, to dst when it is at most max bytes long. It returns the text's
// length; when that is more than max, dst comes back as it was.
func appendCanonicalNumber(dst, num []byte, max int) ([]byte, int) {
	neg := num[0] == '-'
	if neg {
		num = num[1:]
	}
	i := 0
	for i < len(num) && num[i] >= '0' && num[i] <= '9' {
		i++
	}
	intPart := num[:i]
	var frac []byte
	if i < len(num) && num[i] == '.' {
		j := i + 1
		for j < len(num) && num[j] >= '0' && num[j] <= '9' {
			j++
		}
		frac, i = num[i+1:j], j
	}
	exp := 0
	if i < len(num) && (num[i] == 'e' || num[i] == 'E') {
		i++
		expNeg := num[i] == '-'
		if num[i] == '-' || num[i] == '+' {
			i++
		}
		for ; i < len(num); i++ {
			if exp < maxExp {
				exp = exp*10 + int(num[i]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	// The digits, intPart then frac, with the point after point of them.
	var stack [64]byte
	digits := append(append(stack[:0], intPart...), frac...)
	point := len(intPart) + exp
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
		point--
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		if max < 1 {
			return dst, 1
		}
		return append(dst, '0'), 1
	}
	var n int
	switch {
	case point <= 0:
		n = 2 - point + len(digits) // 0.000ddd
	case point >= len(digits):
		n = point // ddd000
	default:
		n = len(digits) + 1 // dd.d
	}
	if neg {
		n++
	}
	if n > max {
		return dst, n
	}
	if neg {
		dst = append(dst, '-')
	}
	switch {
	case point <= 0:
		dst = append(dst, '0', '.')
		for range -point {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	case point >= len(digits):
		dst = append(dst, digits...)
		for range point - len(digits) {
			dst = append(dst, '0')
		}
	default:
		dst = append(append(append(dst, digits[:point]...), '.'), digits[point:]...)
	}
	return dst, n
}
