package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/eventops/eventops/rules"
)

// readmeBlocks returns the fenced blocks of lang in the README section
// titled heading.
func readmeBlocks(t *testing.T, heading, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## "+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// The README's rule file loads, and its rule unit test passes against it.
func TestReadmeRuleExamples(t *testing.T) {
	blocks := readmeBlocks(t, "Rules", "yaml")
	if len(blocks) != 2 {
		t.Fatalf("the Rules section has %d yaml blocks, want the rule file and its test", len(blocks))
	}
	rs, err := rules.Parse("README rules", []byte(blocks[0]), rules.Options{})
	if err != nil {
		t.Fatalf("the README's rule file does not load:\n%v", err)
	}
	if rs.Len() < 5 {
		t.Fatalf("%d rules", rs.Len())
	}
	res, err := rules.RunTests("README rules test", []byte(blocks[1]), func(name string) ([]byte, error) {
		if name == "host.rules.yml" {
			return []byte(blocks[0]), nil
		}
		return nil, os.ErrNotExist
	}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures {
		t.Error(f.Error())
	}
	if res.Tests == 0 {
		t.Fatal("the README's rule test ran no test")
	}
	if _, err := rules.Parse("default_rules.yml", defaultRules, rules.Options{}); err != nil {
		t.Fatalf("built-in rules: %v", err)
	}
}
