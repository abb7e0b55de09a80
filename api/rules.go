package api

import (
	"fmt"
	"path/filepath"

	"github.com/gofiber/fiber/v2"
)

// RuleInfo is one rule in force, as GET /rules lists it.
type RuleInfo struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	// File is the rule file's name, without its directory.
	File          string            `json:"file"`
	Line          int               `json:"line"`
	Expr          string            `json:"expr"`
	Clear         string            `json:"clear,omitempty"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Severity      string            `json:"severity"`
	Labels        map[string]string `json:"labels"`
	Annotations   map[string]string `json:"annotations"`
	// AllTenants is false for a rule of a group scoped to some tenants.
	AllTenants bool `json:"all_tenants"`
	// Shadow marks a rule in shadow mode: evaluated, never sent to receivers.
	Shadow bool `json:"shadow,omitempty"`
}

// RuleLister lists the rules in force: those that apply to tenant, or every
// rule when tenant is "".
type RuleLister interface {
	Rules(tenant string) []RuleInfo
}

// rules serves GET /rules: the rules in force, in file order. A tenant key
// sees the rules that apply to its tenant; an admin every rule, or those of
// the tenant it names.
func (s *Server) rules(c *fiber.Ctx) error {
	if err := checkParams(c, []string{"tenant"}); err != nil {
		return err
	}
	a, err := s.requestAccess(c)
	if err != nil {
		return err
	}
	tenant := ""
	if c.Query("tenant") != "" || !a.admin() {
		if tenant, err = s.requestTenant(c); err != nil {
			return err
		}
	}
	if s.opts.Rules == nil {
		return fmt.Errorf("%w: this replica evaluates no rules", ErrUnavailable)
	}
	list := s.opts.Rules.Rules(tenant)
	if list == nil {
		list = []RuleInfo{}
	}
	// The file is named, not where it is on the server.
	list = append([]RuleInfo(nil), list...)
	for i := range list {
		list[i].File = filepath.Base(list[i].File)
	}
	if list == nil {
		list = []RuleInfo{}
	}
	return c.JSON(fiber.Map{"tenant": tenant, "rules": list})
}
