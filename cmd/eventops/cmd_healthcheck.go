package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
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
	status, err := probe(ctx, target, f.timeout)
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

// probe asks target once and returns its status line when it answers 2xx.
// Anything else is an error that says why: the status with the problem's
// detail (/readyz lists what is not ready), or the network error.
func probe(ctx context.Context, target string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", fmt.Errorf("healthcheck %s: %w", target, err)
	}
	// No proxy: the target is this container or pod, whatever HTTP_PROXY says.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("healthcheck %s: no answer within %s", target, timeout)
		}
		return "", fmt.Errorf("healthcheck %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("healthcheck %s: answered %s: %s", target, resp.Status, reason(body))
	}
	return resp.Status, nil
}

// reason is what a failed answer says: the detail of a problem+json body,
// or the start of the body as text.
func reason(body []byte) string {
	var p struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	if json.Unmarshal(body, &p) == nil && (p.Detail != "" || p.Title != "") {
		if p.Detail != "" {
			return p.Detail
		}
		return p.Title
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
