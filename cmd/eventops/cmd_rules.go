package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/eventops/eventops/rules"
)

// runRules checks rule files, runs rule unit tests, or backtests a rule
// file over the stored history.
func runRules(ctx context.Context, cfg *Config, args []string, log *slog.Logger) error {
	if len(args) > 0 && args[0] == "backtest" {
		return runBacktest(ctx, cfg, args[1:], log)
	}
	if len(args) < 2 || (args[0] != "check" && args[0] != "test") {
		return usageError{"usage: eventops rules check|test FILE... or " + backtestUsage}
	}
	var opts rules.Options
	if args[0] == "check" {
		return checkFiles(args[1:], func(path string) (string, error) {
			rs, err := rules.LoadFiles(opts, path)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%d rules%s, %d metrics", rs.Len(), shadowSummary(rs), len(rs.Metrics())), nil
		})
	}
	failed := false
	for _, path := range args[1:] {
		switch args[0] {
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

// shadowSummary names the rules in shadow mode, " (N in shadow: group/alert, ...)",
// so that a check says which rules will not reach receivers; "" when none.
func shadowSummary(rs *rules.RuleSet) string {
	var names []string
	for r := range rs.Rules() {
		if r.Shadow() {
			names = append(names, r.Group()+"/"+r.Name())
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d in shadow: %s)", len(names), strings.Join(names, ", "))
}

// checkFiles validates each file with check, which returns what the file
// holds or its problems (FILE:LINE: message, one a line); it prints
// "FILE: summary: OK" or the problems, and fails once all are checked.
func checkFiles(paths []string, check func(path string) (summary string, err error)) error {
	failed := false
	for _, path := range paths {
		summary, err := check(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
			continue
		}
		fmt.Printf("%s: %s: OK\n", path, summary)
	}
	if failed {
		return errReported
	}
	return nil
}
