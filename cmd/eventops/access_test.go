package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventops/eventops/api"
)

// `run` refuses to serve the API without keys unless auth is none; dev
// serves localhost; each says so at start.
func TestAPIAccessAtStart(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte(api.HashKey("k")+" acme\n"+api.HashKey("a")+" *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("k acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := func(dev bool, cfg Config, wantKeys bool, want string) {
		t.Helper()
		var logs bytes.Buffer
		keys, err := apiKeys(&cfg, dev, slog.New(slog.NewTextHandler(&logs, nil)))
		got := logs.String()
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) || (keys != nil) != wantKeys {
			t.Fatalf("dev=%v %+v: %q (keys %v), want %q", dev, cfg, got, keys != nil, want)
		}
	}
	api := []string{"api"}
	f(false, Config{Stages: api, Auth: "keys"}, false, "api_keys_file: the api stage requires API keys")
	f(false, Config{Stages: api, Auth: "none"}, false, "API access: OPEN (auth: none)")
	f(false, Config{Stages: api, Auth: "keys", APIKeysFile: keys}, true, "API access: keys required")
	f(false, Config{Stages: api, Auth: "keys", APIKeysFile: bad}, false, "api_keys_file: "+bad+":1:")
	f(false, Config{Stages: []string{"sink"}, Auth: "keys"}, false, "")
	f(true, Config{Stages: api, Auth: "keys"}, false, "API access: open on localhost only")
	f(true, Config{Stages: api, APIKeysFile: keys}, true, "keys=2")
}

func TestKeysCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := realMain([]string{"keys", "new", "acme", "the", "agents"}, &out, &errb); code != 0 {
		t.Fatalf("keys new: %d %s", code, errb.String())
	}
	if code := realMain([]string{"keys", "new", "ac/me"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `tenant "ac/me"`) {
		t.Fatalf("bad tenant: %d %s", code, errb.String())
	}
}
