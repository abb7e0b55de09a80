package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/eventops/eventops/api"
)

// keysCommand makes API keys and their keys-file lines. The key is printed
// once and never stored: the keys file holds only its SHA-256.
func keysCommand() command {
	return command{name: "keys", args: "new TENANT|* [NAME...] | hash [KEY]",
		summary: "make an API key for a tenant (* for admin) and print its keys-file line, or hash a key (read from stdin without KEY)",
		keys:    []string{}, run: runKeys}
}

func runKeys(_ context.Context, _ *Config, args []string, _ *slog.Logger) error {
	if len(args) == 1 && args[0] == "hash" {
		// From stdin: the key stays out of the shell's history and ps.
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return usageError{"keys hash: no key on stdin"}
		}
		args = append(args, strings.TrimSpace(line))
	}
	if len(args) < 2 {
		return usageError{"want `keys new TENANT [NAME...]` or `keys hash [KEY]`"}
	}
	switch args[0] {
	case "new":
		line := ""
		key, err := api.NewKey()
		if err != nil {
			return err
		}
		line = api.HashKey(key) + " " + args[1]
		if len(args) > 2 {
			line += " " + strings.Join(args[2:], " ")
		}
		// Check the line as the server will read it.
		if _, err := api.ParseKeys(strings.NewReader(line), "the new line"); err != nil {
			return usageError{err.Error()}
		}
		fmt.Printf("key (give it to its holder; it is not stored):\n  %s\nline for the keys file:\n  %s\n", key, line)
		return nil
	case "hash":
		if err := api.CheckKeyStrength(args[1]); err != nil {
			return usageError{err.Error()}
		}
		fmt.Println(api.HashKey(args[1]))
		return nil
	}
	return usageError{fmt.Sprintf("unknown keys subcommand %q", args[0])}
}
