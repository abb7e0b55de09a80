package replica

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventops/eventops/api"
)

// Reading the keys file again ends a removed key's sessions at once; a
// file that does not load leaves the keys in force.
func TestKeysReloadRevokesSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(api.HashKey("key-acme") + " acme\n" + api.HashKey("key-admin") + " *\n")
	keys, err := api.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := api.New(api.Options{Keys: keys, Logger: quiet})
	req := func(method, target, body string, headers ...string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(method, "http://localhost"+target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		resp, err := srv.App().Test(r, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	login := req("POST", "/auth/session", `{"key":"key-acme"}`)
	if login.StatusCode != 200 {
		t.Fatalf("login: %d", login.StatusCode)
	}
	cookie := login.Header.Get("Set-Cookie")
	cookie = cookie[:strings.IndexByte(cookie, ';')]
	authed := func() bool {
		r, _ := http.NewRequest("GET", "http://localhost/auth/session", nil)
		r.Header.Set("Cookie", cookie)
		resp, err := srv.App().Test(r, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"authenticated":true`)
	}
	if !authed() {
		t.Fatal("the session does not authenticate")
	}
	write("not a keys file\n")
	if _, err := reloadKeys(srv, path, quiet); err == nil || !strings.Contains(err.Error(), "api_keys_file") {
		t.Fatalf("a broken file: %v", err)
	}
	if !authed() {
		t.Fatal("a broken keys file ended the session")
	}
	write(api.HashKey("key-admin") + " *\n")
	if n, err := reloadKeys(srv, path, quiet); err != nil || n != 1 {
		t.Fatalf("reload: %d %v", n, err)
	}
	if authed() {
		t.Fatal("the session of a removed key still authenticates")
	}
}
