package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The addr file carries what was bound, and a reader learns of a process
// that exited before it listened instead of waiting for the file.
func TestAddrFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addrs.json")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	exited := make(chan struct{})
	close(exited)
	if _, err := awaitListening(context.Background(), path, exited); err == nil || !strings.Contains(err.Error(), "exited before it listened") {
		t.Fatalf("no file, process gone: %v", err)
	}

	want := listening{Kafka: []string{"127.0.0.1:40001", "127.0.0.1:40002"}, HTTP: "127.0.0.1:40003"}
	if err := want.report(path, quiet); err != nil {
		t.Fatal(err)
	}
	got, err := awaitListening(context.Background(), path, make(chan struct{}))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read %+v, %v; want %+v", got, err, want)
	}
	if matches, _ := filepath.Glob(path + ".*"); len(matches) != 0 {
		t.Fatalf("left behind %v", matches)
	}
}
