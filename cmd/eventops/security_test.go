package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/eventops/eventops/api"
)

// A session secret that could be guessed stops the start, with a message
// that names the setting; a random one of 32 bytes or more is taken.
func TestWeakSessionSecretStopsTheStart(t *testing.T) {
	for _, secret := range []string{"s3cret", "REPLACE_ME_with_openssl_rand_hex_32", "changeme-changeme-changeme-changeme-0000", strings.Repeat("a", 31)} {
		var out, errb bytes.Buffer
		code := realMain([]string{"run", "--auth", "none", "--session-secret", secret, "--brokers", "127.0.0.1:1"}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), "session_secret:") {
			t.Fatalf("session_secret %q: exit %d, %s", secret, code, errb.String())
		}
	}
	if _, err := loadConfig(t, []string{"--session-secret", strings.Repeat("7f", 16)}, []string{"session_secret"}); err != nil {
		t.Fatalf("a 32-byte secret: %v", err)
	}
	t.Setenv("EVENTOPS_SESSION_SECRET", "short")
	if _, err := loadConfig(t, nil, []string{"session_secret"}); err == nil || !strings.Contains(err.Error(), "session_secret: is 5 bytes, shorter than 32") {
		t.Fatalf("from the environment: %v", err)
	}
}

// dev without keys serves loopback only unless http_addr names a host.
func TestDevListensOnLoopbackWithoutKeys(t *testing.T) {
	for _, c := range []struct {
		addr, keys, want string
	}{
		{":8088", "", "127.0.0.1:8088"},
		{":0", "", "127.0.0.1:0"},
		{"0.0.0.0:8088", "", "0.0.0.0:8088"},
		{":8088", "/etc/keys", ":8088"},
	} {
		if got := devHTTPAddr(&Config{HTTPAddr: c.addr, APIKeysFile: c.keys}); got != c.want {
			t.Fatalf("%s (keys %q): %s, want %s", c.addr, c.keys, got, c.want)
		}
	}
}

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

// keys hash refuses a key that could be guessed.
func TestKeysHashRefusesWeakKeys(t *testing.T) {
	for _, weak := range []string{"acme", "password123", strings.Repeat("ab", 20), "eok_short"} {
		var out, errb bytes.Buffer
		if code := realMain([]string{"keys", "hash", weak}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "key:") {
			t.Fatalf("keys hash %q: %d %s", weak, code, errb.String())
		}
	}
	key, err := api.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := api.CheckKeyStrength(key); err != nil {
		t.Fatalf("a new key: %v", err)
	}
	if err := api.CheckKeyStrength("Zq8vN3xK1pL7mR4tW9yB2cF6hJ0dS5gA"); err != nil {
		t.Fatalf("32 random characters: %v", err)
	}
}

// Scrapes are public: the broker is asked for lag at most once per
// lagMaxAge, however often /-/metrics is scraped.
func TestLagIsAskedOncePerMaxAge(t *testing.T) {
	asked := 0
	now := time.Unix(1000, 0)
	l := newLagCollector(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.lag = func(context.Context) (kadm.DescribedGroupLags, error) { asked++; return nil, nil }
	l.now = func() time.Time { return now }
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	for range 50 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Fatalf("asked %d times for 50 scrapes", asked)
	}
	now = now.Add(lagMaxAge)
	_, _ = reg.Gather()
	if asked != 2 {
		t.Fatalf("asked %d times once the answer is old", asked)
	}
}
