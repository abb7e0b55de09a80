package api

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Body limits. The server streams request bodies: nothing beyond what a
// route needs is buffered, and a declared length over the route's limit is
// refused before a byte of the body is read.
const (
	// maxLoginBody bounds POST /auth/session ({"key": "..."}).
	maxLoginBody = 4 << 10
	// maxOtherBody bounds the body of every route that takes none.
	maxOtherBody = 4 << 10
	// drainLimit is how much of an unread body is read away so that the
	// connection can serve its next request; beyond it the connection is
	// closed.
	drainLimit = 64 << 10
)

const bodyReadLocal = "eventops.body_read"

// bodyLimit is the largest body the route of path takes.
func (s *Server) bodyLimit(path string) int {
	switch path {
	case "/ingest", pathOTLP, pathRemoteWrite, pathInfluxV2, pathInfluxV1:
		return s.opts.IngestMaxBody
	case "/silences":
		return maxSilenceBody
	case "/rules/backtest":
		return maxBacktestBody
	case "/auth/session":
		return maxLoginBody
	}
	if strings.HasPrefix(path, "/alerts/") {
		return maxActivityBody
	}
	return maxOtherBody
}

func tooLarge(n, limit int) error {
	what := "the body"
	if n >= 0 {
		what = fmt.Sprintf("the body is %d bytes,", n)
	} else {
		what = "the body is"
	}
	return &Problem{Type: "about:blank", Title: "Request Entity Too Large", Status: fiber.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("%s more than the limit of %d bytes of this route", what, limit)}
}

func unsupportedEncoding(enc string, allowed string) error {
	return &Problem{Type: "about:blank", Title: "Unsupported Media Type", Status: fiber.StatusUnsupportedMediaType,
		Detail: fmt.Sprintf("Content-Encoding %q is not accepted here (accepted: %s)", enc, allowed)}
}

func unsupportedType(ct string, allowed ...string) error {
	return &Problem{Type: "about:blank", Title: "Unsupported Media Type", Status: fiber.StatusUnsupportedMediaType,
		Detail: fmt.Sprintf("Content-Type %q is not accepted here (send %s)", ct, strings.Join(allowed, " or "))}
}

// limitBody refuses a declared body over the route's limit before anything
// reads it, and after the handler reads away what it left unread (or
// closes the connection), so that the next request on the connection
// starts where it should.
func (s *Server) limitBody(c *fiber.Ctx) error {
	limit := s.bodyLimit(c.Path())
	if n := c.Request().Header.ContentLength(); n > limit {
		c.Context().SetConnectionClose()
		return tooLarge(n, limit)
	}
	err := c.Next()
	if read, _ := c.Locals(bodyReadLocal).(bool); !read {
		s.discardBody(c)
	}
	return err
}

// discardBody reads away a body no handler read, up to drainLimit; a
// longer one closes the connection.
func (s *Server) discardBody(c *fiber.Ctx) {
	stream := c.Request().BodyStream()
	if stream == nil || c.Request().Header.ContentLength() == 0 {
		return
	}
	n, err := io.Copy(io.Discard, io.LimitReader(stream, drainLimit+1))
	if err != nil || n > drainLimit {
		c.Context().SetConnectionClose()
	}
}

// errOverLimit is what a capped reader returns past its limit.
var errOverLimit = errors.New("over the limit")

// capped reads at most n bytes of r and fails with errOverLimit on the
// next one, without reading further.
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, errOverLimit
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// readBody reads the request's body as sent (never decoded by the
// framework), at most limit bytes on the wire and once decoded: more is 413
// as soon as the limit is passed, without reading or inflating the rest.
// gzip, when allowed, is one layer of gzip; an encoding of raw (snappy for
// remote-write) is read as it is, for the caller to decode; any other
// Content-Encoding (stacked ones included) is 415.
func readBody(c *fiber.Ctx, limit int, gzipOK bool, raw ...string) ([]byte, error) {
	c.Locals(bodyReadLocal, true)
	allowed := "identity"
	if gzipOK {
		allowed = "identity, gzip"
	}
	for _, r := range raw {
		allowed += ", " + r
	}
	enc := strings.ToLower(strings.TrimSpace(string(c.Request().Header.Peek(fiber.HeaderContentEncoding))))
	for _, r := range raw {
		if enc == r {
			enc = ""
		}
	}
	var wire io.Reader
	if stream := c.Request().BodyStream(); stream != nil {
		wire = stream
	} else {
		wire = bytes.NewReader(c.Request().Body())
	}
	var r io.Reader = &capped{r: wire, left: int64(limit)}
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		if !gzipOK {
			c.Context().SetConnectionClose()
			return nil, unsupportedEncoding(enc, allowed)
		}
		zr, err := gzip.NewReader(r)
		if err != nil {
			c.Context().SetConnectionClose()
			if errors.Is(err, errOverLimit) {
				return nil, tooLarge(-1, limit)
			}
			return nil, bodyUnreadable(err, "the body is not gzip")
		}
		defer zr.Close()
		r = &capped{r: zr, left: int64(limit)}
	default:
		c.Context().SetConnectionClose()
		return nil, unsupportedEncoding(enc, allowed)
	}
	b, err := io.ReadAll(r)
	switch {
	case errors.Is(err, errOverLimit):
		c.Context().SetConnectionClose()
		return nil, tooLarge(-1, limit)
	case err != nil && enc != "" && enc != "identity":
		c.Context().SetConnectionClose()
		return nil, bodyUnreadable(err, "the body is not valid gzip")
	case err != nil:
		c.Context().SetConnectionClose()
		return nil, bodyUnreadable(err, "")
	}
	return b, nil
}

// bodyUnreadable is the 400 of a body that could not be read. A gzip
// format error is named (with what, "the body is not gzip"); a failed
// read of the connection is not: its error holds the addresses of both
// ends, the server's own among them.
func bodyUnreadable(err error, what string) error {
	var corrupt flate.CorruptInputError
	if what != "" && (errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt)) {
		return badRequest("%s: %v", what, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return badRequest("the body could not be read: it ended early")
	}
	return badRequest("the body could not be read: the connection failed")
}

// requireContentType refuses a body whose media type is not one of types:
// a browser sends other types (text/plain, forms) across sites without
// asking first.
func requireContentType(c *fiber.Ctx, types ...string) error {
	ct := string(c.Request().Header.ContentType())
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, t := range types {
			if strings.EqualFold(mt, t) {
				return nil
			}
		}
	}
	return unsupportedType(ct, types...)
}

// decodeBody decodes a request body that must be one JSON value of v's
// shape, with no field v does not have; the error says the body is not
// what (a silence, a backtest request, ...).
func decodeBody(body []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not %s: %v", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}
