package api

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// access is what one request may read.
type access struct {
	// tenants lists the tenants the request may read; nil means every one.
	tenants map[string]bool
}

// requestAccess is the one place that decides which tenants a request may
// read. EventOps has no authentication yet, so every request reads every
// tenant; API keys mapping to tenants will narrow it here and nowhere else
// (returning ErrUnauthorized for a missing or unknown key).
func (s *Server) requestAccess(c *fiber.Ctx) (access, error) {
	return access{}, nil
}

func (a access) sees(tenant string) bool { return a.tenants == nil || a.tenants[tenant] }

// requestTenant returns the tenant a tenant-scoped request reads: its
// tenant parameter, which must name a tenant the request may read. Every
// handler that reads a tenant's data gets the tenant from here.
func (s *Server) requestTenant(c *fiber.Ctx) (string, error) {
	a, err := s.requestAccess(c)
	if err != nil {
		return "", err
	}
	tenant := strings.Clone(c.Query("tenant"))
	if tenant == "" {
		return "", badRequest("tenant is required")
	}
	if len(tenant) > 256 {
		return "", badRequest("tenant is longer than 256 bytes")
	}
	if !a.sees(tenant) {
		return "", fmt.Errorf("%w: this request may not read tenant %q", ErrForbidden, tenant)
	}
	return tenant, nil
}

// checkParams refuses parameters a handler does not know, so that a typo
// (severty=critical) is an error rather than a filter silently ignored.
// prefixes admit families of parameters (tag.).
func checkParams(c *fiber.Ctx, known []string, prefixes ...string) error {
	var err error
	seen := map[string]bool{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err != nil {
			return
		}
		key := string(k)
		// PostgreSQL text holds neither NUL nor invalid UTF-8.
		if !validText(k) || !validText(v) {
			err = badRequest("parameter %q is not valid UTF-8 text without NUL bytes", strings.ToValidUTF8(key, "\uFFFD"))
			return
		}
		for _, p := range prefixes {
			if strings.HasPrefix(key, p) {
				return
			}
		}
		if !contains(known, key) {
			err = badRequest("unknown parameter %q (known: %s)", key, strings.Join(known, ", "))
			return
		}
		if seen[key] {
			err = badRequest("parameter %q is given more than once", key)
		}
		seen[key] = true
	})
	return err
}

func validText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }
