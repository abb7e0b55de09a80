package api

import (
	"fmt"
	"strings"

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

// reload serves POST /-/reload: the keys file and the rule file are read
// again, each on its own. A file that does not load is a 400 with every
// error of it, and what it held in force stays; the other file's reload
// holds all the same, and the 400 says so.
func (s *Server) reload(c *fiber.Ctx) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	if s.opts.Reload == nil {
		return fmt.Errorf("%w: this replica evaluates no rules", ErrUnavailable)
	}
	res, err := s.opts.Reload()
	if err != nil {
		var loaded []string
		if res.Keys > 0 {
			loaded = append(loaded, fmt.Sprintf("%d API keys are in force", res.Keys))
		}
		if res.Files != nil {
			loaded = append(loaded, fmt.Sprintf("%d rules are in force", res.Rules))
		}
		if len(loaded) > 0 {
			return badRequest("%v (reloaded all the same: %s)", err, strings.Join(loaded, ", "))
		}
		return badRequest("%v", err)
	}
	out := fiber.Map{"status": "reloaded", "rules": res.Rules, "files": res.Files}
	if res.Keys > 0 {
		out["keys"] = res.Keys
	}
	return c.JSON(out)
}
