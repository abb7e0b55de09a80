package replica

import (
	"net"
	"strings"
	"testing"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/rules"
)

// New names the setting of each option it refuses.
func TestNewNamesTheSetting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	good := func() Options {
		return Options{Stages: Stages(), Kafka: processors.Kafka{Brokers: []string{"127.0.0.1:9092"}}, DatabaseURL: "postgres://",
			LoadRules: func() (*rules.RuleSet, error) { return nil, nil }, Listener: ln}
	}
	f := func(edit func(*Options), want string) {
		t.Helper()
		o := good()
		edit(&o)
		_, err := New(o)
		if want == "" {
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("New: %v, want %q", err, want)
		}
	}
	f(func(*Options) {}, "")
	f(func(o *Options) { o.Stages = nil }, "stages: name at least one stage")
	f(func(o *Options) { o.Stages = []string{"ingest", "enrich"} }, `stages: unknown stage "enrich" (known: ingest, features, sink, notify, api)`)
	f(func(o *Options) { o.Kafka.Brokers = nil }, "brokers: ")
	f(func(o *Options) { o.DatabaseURL = "" }, "database_url: ")
	f(func(o *Options) { o.Stages, o.DatabaseURL, o.Listener = []string{StageIngest, StageFeatures}, "", nil }, "")
	f(func(o *Options) { o.LoadRules = nil }, "rules: ")
	f(func(o *Options) { o.Listener = nil }, "http_addr: ")
	f(func(o *Options) { o.Shutdown = -1 }, "shutdown_timeout: ")
	f(func(o *Options) { o.BatchRows = -1 }, "batch_rows: ")
}
