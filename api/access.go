package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// SessionCookie is the cookie a browser authenticates with once it has
// logged in with a key (POST /auth/session): EventSource cannot send
// headers, and a key never goes into a URL.
const SessionCookie = "eventops_session"

// access is what one request may read.
type access struct {
	// tenants lists the tenants the request may read; nil means every one.
	tenants map[string]bool
	// key is the key the request was authenticated with ("" when keys are
	// not required).
	key Key
}

func (a access) sees(tenant string) bool { return a.tenants == nil || a.tenants[tenant] }

// admin reports whether the request reads every tenant.
func (a access) admin() bool { return a.tenants == nil }

// only returns the one tenant a tenant key reads.
func (a access) only() (string, bool) {
	if len(a.tenants) != 1 {
		return "", false
	}
	for t := range a.tenants {
		return t, true
	}
	return "", false
}

func accessOf(k Key) access {
	if k.Admin() {
		return access{key: k}
	}
	return access{tenants: map[string]bool{k.Tenant: true}, key: k}
}

const accessLocal = "eventops.access"

// requestAccess is the one place that decides which tenants a request may
// read (and write, for ingest). Without configured keys every request reads
// every tenant (when LocalOnly, only requests from the loopback interface).
// With keys, the request presents one as "Authorization: Bearer KEY" or
// "X-API-Key: KEY", or the session cookie obtained with one; a missing,
// unknown or expired credential is ErrUnauthorized. A tenant key reads its
// tenant, an admin key (tenant *) every tenant.
func (s *Server) requestAccess(c *fiber.Ctx) (access, error) {
	if a, ok := c.Locals(accessLocal).(access); ok {
		return a, nil
	}
	a, err := s.resolveAccess(c)
	if err != nil {
		return access{}, err
	}
	c.Locals(accessLocal, a)
	return a, nil
}

func (s *Server) resolveAccess(c *fiber.Ctx) (access, error) {
	if s.keys() == nil {
		if s.opts.LocalOnly && !c.Context().RemoteIP().IsLoopback() {
			return access{}, fmt.Errorf("%w: no API keys are configured, so this server answers only on localhost", ErrUnauthorized)
		}
		return access{}, nil
	}
	if key, ok := presentedKey(c); ok {
		k, found := s.keys().Lookup(key)
		if !found {
			return access{}, fmt.Errorf("%w: unknown API key", ErrUnauthorized)
		}
		return accessOf(k), nil
	}
	if tok := c.Cookies(SessionCookie); tok != "" {
		k, err := s.verifySession(tok, time.Now())
		if err != nil {
			return access{}, fmt.Errorf("%w: %v: log in again", ErrUnauthorized, err)
		}
		return accessOf(k), nil
	}
	return access{}, fmt.Errorf("%w: an API key is required (Authorization: Bearer KEY or X-API-Key: KEY; browsers log in with POST /auth/session)", ErrUnauthorized)
}

// presentedKey returns the key of the Authorization or X-API-Key header.
// Authorization takes the key as a Bearer token, as an InfluxDB Token (what
// Influx clients and Telegraf send), or as the password of Basic
// credentials (what senders configured with a user and password send).
func presentedKey(c *fiber.Ctx) (string, bool) {
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		scheme, key, _ := strings.Cut(h, " ")
		key = strings.TrimSpace(key)
		switch {
		case key == "":
		case strings.EqualFold(scheme, "Bearer"), strings.EqualFold(scheme, "Token"):
			return key, true
		case strings.EqualFold(scheme, "Basic"):
			if b, err := base64.StdEncoding.DecodeString(key); err == nil {
				if _, pass, ok := strings.Cut(string(b), ":"); ok && pass != "" {
					return pass, true
				}
			}
		}
		return "", true // a malformed header is an unknown key, not "no key"
	}
	if k := c.Get("X-API-Key"); k != "" {
		return k, true
	}
	return "", false
}

// requireAdmin refuses requests that do not read every tenant.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	a, err := s.requestAccess(c)
	if err != nil {
		return err
	}
	if !a.admin() {
		return fmt.Errorf("%w: this needs an admin key (tenant *)", ErrForbidden)
	}
	return nil
}

func forbiddenTenant(tenant string) error {
	return fmt.Errorf("%w: this request may not read tenant %q", ErrForbidden, tenant)
}

// requestTenant returns the tenant a tenant-scoped request reads: its
// tenant parameter, which must name a tenant the request may read (a tenant
// key's own tenant when the parameter is absent). Every handler that reads
// a tenant's data gets the tenant from here or from requestTenantOf.
func (s *Server) requestTenant(c *fiber.Ctx) (string, error) {
	return s.requestTenantOf(c, c.Query("tenant"))
}

// requestTenantOf checks a tenant named elsewhere than the tenant
// parameter (a path segment).
func (s *Server) requestTenantOf(c *fiber.Ctx, tenant string) (string, error) {
	a, err := s.requestAccess(c)
	if err != nil {
		return "", err
	}
	tenant = strings.Clone(tenant)
	if tenant == "" {
		if only, ok := a.only(); ok {
			return only, nil
		}
		return "", badRequest("tenant is required")
	}
	if len(tenant) > 256 {
		return "", badRequest("tenant is longer than 256 bytes")
	}
	if !a.sees(tenant) {
		return "", forbiddenTenant(tenant)
	}
	return tenant, nil
}

// A session token is base64url("1|keyID|tenant|expiry unix s") "." base64url(HMAC-SHA256).
// It names the key rather than holding it: removing the key from the keys
// file ends its sessions. The MAC key is HMAC(session secret, the key's
// hash), so that forging a session takes the keys file as well as the
// secret.

func (s *Server) sessionMAC(k Key, payload []byte) []byte {
	derive := hmac.New(sha256.New, s.sessionSecret)
	derive.Write(k.hash[:])
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write(payload)
	return mac.Sum(nil)
}

func (s *Server) signSession(k Key, exp time.Time) string {
	payload := "1|" + k.ID + "|" + k.Tenant + "|" + strconv.FormatInt(exp.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(s.sessionMAC(k, []byte(payload)))
}

func (s *Server) verifySession(tok string, now time.Time) (Key, error) {
	p64, m64, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 1024 {
		return Key{}, fmt.Errorf("session cookie is not valid")
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sum, err2 := base64.RawURLEncoding.DecodeString(m64)
	f := strings.Split(string(payload), "|")
	if err1 != nil || err2 != nil || len(f) != 4 || f[0] != "1" {
		return Key{}, fmt.Errorf("session cookie is not valid")
	}
	k, ok := s.keys().byKeyID(f[1])
	if !ok || k.Tenant != f[2] {
		return Key{}, fmt.Errorf("the key of this session is no longer configured")
	}
	if !hmac.Equal(sum, s.sessionMAC(k, payload)) {
		return Key{}, fmt.Errorf("session cookie is not valid (signed by another server, or altered)")
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || now.Unix() >= exp {
		return Key{}, fmt.Errorf("session expired")
	}
	return k, nil
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
