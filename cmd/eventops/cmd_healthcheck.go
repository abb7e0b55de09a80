package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/eventops/eventops/api"
)

// healthcheckFlags are the healthcheck command's own flags. The command
// exists for images without a shell (distroless, scratch): Docker's
// HEALTHCHECK and compose health checks run it instead of curl or wget.
type healthcheckFlags struct {
	url     string
	timeout time.Duration
}

func (f *healthcheckFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "URL to ask (default: http://127.0.0.1:PORT/readyz, PORT taken from http_addr, so http://127.0.0.1:8088/readyz unless http_addr says otherwise)")
	fs.DurationVar(&f.timeout, "timeout", 3*time.Second, "how long the answer may take")
}

func healthcheckCommand() command {
	f := &healthcheckFlags{}
	return command{
		name: "healthcheck", summary: "exit 0 when a running EventOps answers its readiness URL with 2xx, 1 otherwise (for images without a shell)",
		keys: []string{"http_addr"}, bind: f.bind, run: f.run,
	}
}

func (f *healthcheckFlags) run(ctx context.Context, cfg *Config, args []string, log *slog.Logger) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", args)}
	}
	if f.timeout <= 0 {
		return usageError{"--timeout must be positive"}
	}
	target := f.url
	if target == "" {
		u, err := readyURL(cfg.HTTPAddr)
		if err != nil {
			return usageError{err.Error()}
		}
		target = u
	}
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("--url %q is not an http(s) URL", target)}
	}
	status, err := api.Probe(ctx, target, f.timeout)
	if err != nil {
		return err
	}
	log.Info("healthy", "url", target, "status", status)
	return nil
}

// readyURL is the readiness URL of a server listening on httpAddr, as seen
// from the same host: a wildcard listener is asked on the loopback address.
func readyURL(httpAddr string) (string, error) {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "", fmt.Errorf("http_addr %q: %w", httpAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
