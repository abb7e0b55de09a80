package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/eventops/eventops/rules"
)

// runRules checks rule files or runs rule unit tests.
func runRules(_ context.Context, _ *Config, args []string, _ *slog.Logger) error {
	if len(args) < 2 || (args[0] != "check" && args[0] != "test") {
		return usageError{"usage: eventops rules check|test FILE..."}
	}
	var opts rules.Options
	failed := false
	for _, path := range args[1:] {
		switch args[0] {
		case "check":
			rs, err := rules.LoadFiles(opts, path)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = true
				continue
			}
			fmt.Printf("%s: %d rules, %d metrics: OK\n", path, rs.Len(), len(rs.Metrics()))
		case "test":
			res, err := rules.RunTestFile(path, opts)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = true
				continue
			}
			for _, f := range res.Failures {
				fmt.Fprintln(os.Stderr, f.Error())
			}
			if !res.OK() {
				failed = true
				continue
			}
			fmt.Printf("%s: PASS\n", path)
		}
	}
	if failed {
		return errReported
	}
	return nil
}
