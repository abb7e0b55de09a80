package api

import (
	"fmt"

	"github.com/gofiber/fiber/v2"
)

// ReloadResult says what a rule reload put in force.
type ReloadResult struct {
	Rules int      `json:"rules"`
	Files []string `json:"files"`
	// Keys is the number of API keys in force after the keys file was
	// read again (0: the API has no keys file).
	Keys int `json:"keys,omitempty"`
}

// reload serves POST /-/reload: the rule file and the keys file are read
// again. A file that does not load is a 400 with every error of it; the
// rules and keys in force stay.
func (s *Server) reload(c *fiber.Ctx) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	if s.opts.Reload == nil {
		return fmt.Errorf("%w: this replica evaluates no rules", ErrUnavailable)
	}
	res, err := s.opts.Reload()
	if err != nil {
		return badRequest("%v", err)
	}
	out := fiber.Map{"status": "reloaded", "rules": res.Rules, "files": res.Files}
	if res.Keys > 0 {
		out["keys"] = res.Keys
	}
	return c.JSON(out)
}
