package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// awaitListening polls the addr file at path until the process writes it,
// the process exits (exited is closed) or ctx ends. The caller removes a
// file of an earlier run before it starts the process.
func awaitListening(ctx context.Context, path string, exited <-chan struct{}) (listening, error) {
	for {
		var l listening
		b, err := os.ReadFile(path)
		if err == nil {
			if err := json.Unmarshal(b, &l); err != nil {
				return l, fmt.Errorf("addr file %s: %w", path, err)
			}
			return l, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return l, err
		}
		select {
		case <-exited:
			return l, errors.New("the process exited before it listened")
		case <-ctx.Done():
			return l, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond): // the poll interval
		}
	}
}
