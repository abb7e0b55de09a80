package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
)

// Revoking a key must not depend on the rule file: an operator who removes
// a leaked key and reloads gets the key refused even when the rule file
// has an unrelated error; the reload answers 400 for the rules and says
// that the keys were reloaded.
func TestKeyRevocationDoesNotWaitForTheRules(t *testing.T) {
	t.Parallel()
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
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Broken") || !strings.Contains(string(b), "1 API keys are in force") {
		t.Errorf("POST /-/reload: %d %s, want 400 naming the rule error and the keys in force", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if code := get("key-leaked"); code != 401 {
		t.Fatalf("the removed key after POST /-/reload: %d, want 401 (the keys file was not read again because the rule file has an error)", code)
	}
	p.stop(60 * time.Second)
}
