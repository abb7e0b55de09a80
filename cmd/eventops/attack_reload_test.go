package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
)

// Revoking a key must not depend on the rule file: an operator who removes
// a leaked key and reloads gets the key refused even when the rule file
// has an unrelated error. Today the keys file is read again only after the
// rules loaded, so a rule typo keeps the leaked key (and its sessions)
// working, through POST /-/reload and SIGHUP alike.
func TestAttackKeyRevocationDoesNotWaitForTheRules(t *testing.T) {
	env := newDevEnv(t)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yml")
	keysFile := filepath.Join(dir, "keys")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(rulesFile, reloadRulesV1)
	write(keysFile, api.HashKey("key-leaked")+" acme\n"+api.HashKey("key-admin")+" *\n")
	p := env.start(t, "--rules", rulesFile, "--api-keys-file", keysFile)

	get := func(key string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", p.HTTP+"/rules", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("key-leaked"); code != 200 {
		t.Fatalf("the key before its removal: %d", code)
	}

	// The key leaked: the operator removes it; the rule file meanwhile
	// has a typo of someone else's.
	write(keysFile, api.HashKey("key-admin")+" *\n")
	write(rulesFile, reloadRulesV1+"      - alert: Broken\n        expr: avg(\"nope\", \"1m\") > 1\n")

	req, _ := http.NewRequest("POST", p.HTTP+"/-/reload", nil)
	req.Header.Set("Authorization", "Bearer key-admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("POST /-/reload: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	if code := get("key-leaked"); code != 401 {
		t.Fatalf("the removed key after POST /-/reload: %d, want 401 (the keys file was not read again because the rule file has an error)", code)
	}
	p.stop(60 * time.Second)
}

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
