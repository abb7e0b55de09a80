package main

import (
	"strings"
	"testing"
)

// cors_origins "*" (reads from every origin) stands alone: listed with
// named origins it is refused at start, naming the key, rather than
// failing when the API is built.
func TestCORSWildcardStandsAlone(t *testing.T) {
	_, err := loadConfig(t, []string{"--cors-origins", "*,https://console.example"}, []string{"cors_origins"})
	if err == nil || !strings.Contains(err.Error(), `cors_origins: "*"`) {
		t.Fatalf("cors_origins *,https://console.example: %v", err)
	}
	if _, err := loadConfig(t, []string{"--cors-origins", "*"}, []string{"cors_origins"}); err != nil {
		t.Fatalf("cors_origins *: %v", err)
	}
}
