package normalize

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's limit on nesting: deeper input is not valid
// JSON there, so it is not valid here either.
const maxDepth = 10000

// What the scanner was looking for when it met a bad byte, worded as
// encoding/json words its syntax errors.
const (
	ctxValue    = "looking for beginning of value"
	ctxKey      = "looking for beginning of object key string"
	ctxColon    = "after object key"
	ctxObjNext  = "after object key:value pair"
	ctxArrNext  = "after array element"
	ctxTopLevel = "after top-level value"
	ctxString   = "in string literal"
	ctxEscape   = "in string escape code"
	ctxNumber   = "in numeric literal"
	ctxTrue     = "in literal true"
	ctxFalse    = "in literal false"
	ctxNull     = "in literal null"
	ctxDepth    = "exceeded max depth"
)

// scanner walks one JSON text and accepts exactly what encoding/json accepts
// of input that is valid UTF-8 (Parse checks that first). It keeps where it
// stopped and why, and formats that only when asked: most failures are the
// cheap way of telling NDJSON from a single value.
type scanner struct {
	data   []byte
	pos    int
	errPos int
	errCtx string
}

func (s *scanner) fail(ctx string) bool {
	s.errPos, s.errCtx = s.pos, ctx
	return false
}

// errString says what is wrong and where (counting bytes from 1).
func (s *scanner) errString() string {
	switch {
	case s.errCtx == ctxDepth:
		return fmt.Sprintf("exceeded max depth at byte %d", s.errPos+1)
	case s.errPos >= len(s.data):
		return fmt.Sprintf("unexpected end of JSON input at byte %d", len(s.data))
	}
	r, _ := utf8.DecodeRune(s.data[s.errPos:])
	return fmt.Sprintf("invalid character %s %s at byte %d", strconv.QuoteRune(r), s.errCtx, s.errPos+1)
}

// ws skips JSON whitespace (which is narrower than unicode.IsSpace).
func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.ws()
	if s.pos != len(s.data) {
		return s.fail(ctxTopLevel)
	}
	return true
}

// colon skips the ':' after an object key and the whitespace around it.
func (s *scanner) colon() bool {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return s.fail(ctxColon)
	}
	s.pos++
	s.ws()
	return true
}

// next skips what follows a member or an element: a ',' (more is true) or
// the closing byte.
func (s *scanner) next(closing byte, ctx string) (more, ok bool) {
	s.ws()
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.ws()
			return true, true
		case closing:
			s.pos++
			return false, true
		}
	}
	return false, s.fail(ctx)
}

// value skips one value inside depth containers.
func (s *scanner) value(depth int) bool {
	if s.pos >= len(s.data) {
		return s.fail(ctxValue)
	}
	switch c := s.data[s.pos]; c {
	case '"':
		_, ok := s.str()
		return ok
	case '{':
		return s.object(depth + 1)
	case '[':
		return s.array(depth + 1)
	case 't':
		return s.literal("true", ctxTrue)
	case 'f':
		return s.literal("false", ctxFalse)
	case 'n':
		return s.literal("null", ctxNull)
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return s.number()
		}
		return s.fail(ctxValue)
	}
}

// open enters an object, the depth-th container, at its '{'. done reports
// an empty object (already closed); ok is false on a syntax error.
func (s *scanner) open(depth int) (done, ok bool) {
	if depth > maxDepth {
		return false, s.fail(ctxDepth)
	}
	s.pos++
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return true, true
	}
	return false, true
}

// object skips an object that is the depth-th container.
func (s *scanner) object(depth int) bool {
	if done, ok := s.open(depth); done || !ok {
		return ok
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.fail(ctxKey)
		}
		if _, ok := s.str(); !ok || !s.colon() || !s.value(depth) {
			return false
		}
		more, ok := s.next('}', ctxObjNext)
		if !more {
			return ok
		}
	}
}

// array skips an array that is the depth-th container.
func (s *scanner) array(depth int) bool {
	if depth > maxDepth {
		return s.fail(ctxDepth)
	}
	s.pos++
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		more, ok := s.next(']', ctxArrNext)
		if !more {
			return ok
		}
	}
}

func (s *scanner) literal(word, ctx string) bool {
	for i := 0; i < len(word); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != word[i] {
			return s.fail(ctx)
		}
		s.pos++
	}
	return true
}

// number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; what may
// follow it is for the caller to judge (so "01" fails there).
func (s *scanner) number() bool {
	data, i := s.data, s.pos
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = digits(data, i+1)
	default:
		s.pos = i
		return s.fail(ctxNumber)
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return s.fail(ctxNumber)
		}
		i = digits(data, i)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return s.fail(ctxNumber)
		}
		i = digits(data, i)
	}
	s.pos = i
	return true
}

func digits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// str skips the string at s.pos and reports whether it holds escapes; its
// content is then s.data[start+1 : s.pos-1].
func (s *scanner) str() (escaped, ok bool) {
	data := s.data
	i := s.pos + 1
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return escaped, true
		case c == '\\':
			escaped = true
			i++
			if i >= len(data) {
				s.pos = i
				return false, s.fail(ctxEscape)
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for range 4 {
					if i >= len(data) || hexVal(data[i]) < 0 {
						s.pos = i
						return false, s.fail(ctxEscape)
					}
					i++
				}
			default:
				s.pos = i
				return false, s.fail(ctxEscape)
			}
		case c < ' ':
			s.pos = i
			return false, s.fail(ctxString)
		default:
			i++
		}
	}
	s.pos = i
	return false, s.fail(ctxString)
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// u4 reads the \uXXXX escape at the start of s, or returns -1.
func u4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r*16 + v
	}
	return r
}

// unescape appends the decoded content of a string that str accepted, as
// encoding/json decodes it: a \u escape of half a surrogate pair that is not
// followed by its other half becomes U+FFFD.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		c := s[i+1]
		i += 2
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := u4(s[i-2:])
			i += 4
			if utf16.IsSurrogate(r) {
				if dec := utf16.DecodeRune(r, u4(s[i:])); dec != utf8.RuneError {
					dst = utf8.AppendRune(dst, dec)
					i += 6
					continue
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
	return dst
}
