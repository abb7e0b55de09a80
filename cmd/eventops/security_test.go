package main

import (
	"bytes"
	"strings"
	"testing"

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
