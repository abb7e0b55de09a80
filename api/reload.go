package api

import (
	"fmt"

	"github.com/gofiber/fiber/v2"
)

// ReloadResult says what a rule reload put in force.
type ReloadResult struct {
	Rules int      `json:"rules"`
	Files []string `json:"files"`
}

// reload serves POST /-/reload. A file that does not load is a 400 with
// every error of it; the rules in force keep running.
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
	return c.JSON(fiber.Map{"status": "reloaded", "rules": res.Rules, "files": res.Files})
}
