package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/eventops/eventops/notify"
)

// runAlerting checks receivers files.
func runAlerting(_ context.Context, _ *Config, args []string, _ *slog.Logger) error {
	if len(args) < 2 || args[0] != "check" {
		return usageError{"usage: eventops alerting check FILE..."}
	}
	return checkFiles(args[1:], func(path string) (string, error) {
		c, err := notify.Load(path)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d receivers, %d routes, %d inhibit rules, %d time intervals", len(c.Receivers), c.Route.Count(),
			len(c.InhibitRules), len(c.TimeIntervals)), nil
	})
}
