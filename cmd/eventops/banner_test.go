package main

import (
	"strings"
	"testing"
)

// The dev banner shows a DATABASE_URL of the user's own without its
// password in every form pgx accepts (keyword, query parameter) and when
// the string does not parse at all.
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
	b := devBanner("http://127.0.0.1:8080", "127.0.0.1:9092", "host=db.example user=eo password=hunter2secret dbname=events port=6543", "", 1)
	if !strings.Contains(b, "user eo, database events at db.example:6543") {
		t.Errorf("the banner does not name the server, user and database:\n%s", b)
	}
}
