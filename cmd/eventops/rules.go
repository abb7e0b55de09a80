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

func ruleOptions(*Config) rules.Options { return rules.Options{} }

// loadRules reads the rule file of cfg, or the built-in rules.
func loadRules(cfg *Config) (*rules.RuleSet, error) {
	opts := ruleOptions(cfg)
	if cfg.Rules == "" {
		return rules.Parse(DefaultRulesName, defaultRules, opts)
	}
	rs, err := rules.LoadFiles(opts, cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return rs, nil
}
