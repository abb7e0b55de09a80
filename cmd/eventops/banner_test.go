package main

import (
	"strings"
	"testing"
)

// The dev banner promises to show a DATABASE_URL of the user's own without
// its password. Forms pgx accepts that url.Redacted does not redact (or that
// url.Parse refuses, which leaves the raw string in the banner) print the
// secret to stderr.
func TestDevBannerHidesEveryPasswordForm(t *testing.T) {
	for _, dbURL := range []string{
		"host=127.0.0.1 user=eo password=hunter2secret dbname=eventops",
		"postgres://eo@127.0.0.1/eventops?password=hunter2secret",
		"postgres://eo:hunter2secret%zz@127.0.0.1/eventops",
	} {
		b := devBanner("http://127.0.0.1:8080", "127.0.0.1:9092", dbURL, "", 1)
		if strings.Contains(b, "hunter2secret") {
			t.Errorf("DATABASE_URL %q: the banner shows the password:\n%s", dbURL, b)
		}
	}
}
