package rules

import (
	"strings"
	"testing"
	"time"
)

func TestFlappingOption(t *testing.T) {
	file := func(flapping string) string {
		return `
metrics:
  - {name: cpu, kind: gauge}
groups:
  - name: g
    rules:
      - alert: A
        expr: last("cpu") > 1
` + flapping
	}
	rs, err := Parse("f.yml", []byte(file("        flapping: {changes: 4, window: 1h}\n")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for r := range rs.Rules() {
		if f := r.Flapping(); f != (Flapping{Changes: 4, Window: time.Hour, Set: true}) {
			t.Fatalf("flapping %+v", f)
		}
	}
	rs, err = Parse("f.yml", []byte(file("")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for r := range rs.Rules() {
		if f := r.Flapping(); f.Set {
			t.Fatalf("flapping %+v without the option", f)
		}
	}
	for opt, want := range map[string]string{
		"        flapping: {changes: 1, window: 1h}\n": `f.yml:9: alert "A": flapping.changes: "1" must be 0 (off) or a whole number from 2 to 100`,
		"        flapping: {changes: 4}\n":             `f.yml:9: alert "A": flapping: changes needs a window`,
		"        flapping: {changes: 4, window: 9d}\n": `f.yml:9: alert "A": flapping.window: must be positive and at most 7d`,
		"        flapping: {changes: 4, every: 1h}\n":  `f.yml:9: alert "A": flapping: unknown key "every" (allowed: changes, window)`,
	} {
		_, err := Parse("f.yml", []byte(file(opt)), Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %s", opt, err, want)
		}
	}
}
