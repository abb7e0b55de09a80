package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventops/eventops/actors"
)

// GET /rules answers tenant keys: it must not show where the rule file
// lives on the server (a path names the deployment's layout, its user or
// its mounts). Each rule's file is named by its base name at most.
func TestAttackRulesDoNotShowServerPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc", "eventops-secret-layout")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(file, []byte(reloadRulesV1), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := loadRules(&Config{Rules: file})
	if err != nil {
		t.Fatal(err)
	}
	list := ruleLister{actors.NewRuleHolder(rs)}.Rules("acme")
	if len(list) == 0 {
		t.Fatal("no rules listed")
	}
	for _, r := range list {
		if strings.Contains(r.File, dir) {
			t.Errorf("rule %s: GET /rules shows the server path %q to tenant keys", r.Name, r.File)
		}
	}
}
