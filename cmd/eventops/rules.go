package main

import (
	_ "embed"
	"fmt"

	"github.com/eventops/eventops/rules"
)

//go:embed default_rules.yml
var defaultRules []byte

// DefaultRulesName is how the built-in rules are named in messages.
const DefaultRulesName = "<built-in rules>"

// loadRules reads the rule file of cfg, or the built-in rules.
func loadRules(cfg *Config) (*rules.RuleSet, error) {
	if cfg.Rules == "" {
		return rules.Parse(DefaultRulesName, defaultRules, rules.Options{})
	}
	rs, err := rules.LoadFiles(rules.Options{}, cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return rs, nil
}
