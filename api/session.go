package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

type sessionBody struct {
	KeysRequired  bool       `json:"keys_required"`
	Authenticated bool       `json:"authenticated"`
	Tenant        string     `json:"tenant,omitempty"`
	Admin         bool       `json:"admin"`
	KeyID         string     `json:"key_id,omitempty"`
	Expires       *time.Time `json:"expires,omitempty"`
}

// session serves GET /auth/session: whether keys are required and what the
// request may read. It never answers 401, so that the dashboard can ask
// before it shows a login form.
func (s *Server) session(c *fiber.Ctx) error {
	if err := checkParams(c, nil); err != nil {
		return err
	}
	body := sessionBody{KeysRequired: s.keys() != nil}
	a, err := s.requestAccess(c)
	if err == nil {
		body.Authenticated, body.Admin, body.KeyID = true, a.admin(), a.key.ID
		body.Tenant, _ = a.only()
		if a.key.Admin() {
			body.Tenant = AllTenants
		}
	}
	return c.JSON(body)
}

// login serves POST /auth/session: a key (in the Authorization or X-API-Key
// header, or the JSON body {"key": "..."}) is exchanged for an HttpOnly,
// SameSite=Strict session cookie that authenticates the browser, the alert
// stream included, for SessionTTL.
func (s *Server) login(c *fiber.Ctx) error {
	if s.keys() == nil {
		return badRequest("this server requires no API keys: there is nothing to log in to")
	}
	if c.Request().Header.ContentLength() != 0 {
		if err := requireContentType(c, fiber.MIMEApplicationJSON); err != nil {
			return err
		}
	}
	key, ok := presentedKey(c)
	if !ok {
		var in struct {
			Key string `json:"key"`
		}
		body, err := readBody(c, maxLoginBody, false)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Key == "" {
			return badRequest(`send the key as {"key": "..."} or in the Authorization header`)
		}
		key = in.Key
	}
	k, found := s.keys().Lookup(strings.TrimSpace(key))
	if !found {
		return fmt.Errorf("%w: unknown API key", ErrUnauthorized)
	}
	exp := time.Now().Add(s.opts.SessionTTL).Truncate(time.Second)
	c.Cookie(&fiber.Cookie{
		Name: SessionCookie, Value: s.signSession(k, exp), Path: "/", Expires: exp,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https",
	})
	s.log.Info("session opened", "key", k.ID, "tenant", k.Tenant)
	a := accessOf(k)
	body := sessionBody{KeysRequired: true, Authenticated: true, Admin: a.admin(), KeyID: k.ID, Expires: &exp, Tenant: k.Tenant}
	return c.JSON(body)
}

// logout serves DELETE /auth/session: the cookie is cleared.
func (s *Server) logout(c *fiber.Ctx) error {
	c.Cookie(&fiber.Cookie{
		Name: SessionCookie, Value: "", Path: "/", Expires: time.Unix(1, 0), MaxAge: -1,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https",
	})
	return c.SendStatus(fiber.StatusNoContent)
}

// minSessionSecret is the shortest session secret accepted: 32 bytes, as
// openssl rand -hex 32 prints 64.
const minSessionSecret = 32

// CheckSessionSecret refuses a secret of Options.SessionSecret that could
// be guessed: too short, or a placeholder left from an example. Empty is a
// random secret.
func CheckSessionSecret(s string) error {
	if s == "" {
		return nil
	}
	lower := strings.ToLower(s)
	for _, p := range []string{"replace", "change", "placeholder", "example", "secret", "xxxx"} {
		if strings.Contains(lower, p) {
			return fmt.Errorf("looks like a placeholder (it contains %q): set a random one, e.g. openssl rand -hex 32", p)
		}
	}
	if len(s) < minSessionSecret {
		return fmt.Errorf("is %d bytes, shorter than %d: set a random one, e.g. openssl rand -hex 32", len(s), minSessionSecret)
	}
	return nil
}
