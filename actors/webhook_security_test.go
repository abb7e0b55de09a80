package actors_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/rules"
)

// syncBuffer is a log sink safe for the notifier's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Webhook URLs carry secrets (a path token, a query token, user info):
// a failing webhook is logged by scheme and host only.
func TestWebhookSecretsNeverReachTheLog(t *testing.T) {
	url := "http://user:hunter2@127.0.0.1:1/services/T0000/B0000/SECRET-WEBHOOK-TOKEN-123?token=QUERYSECRET"
	cfg := notifyConfig(t, url, "")
	var logs syncBuffer
	n := actors.NewNotifier(actors.NewSystem(slog.New(slog.DiscardHandler)), actors.NotifierOptions{
		Config: cfg, Store: alertStore(t), DrainTimeout: 100 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	n.Notify(context.Background(), tr(rules.StateFiring, "h1", "e1"), func(error) {})
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(logs.String(), "webhook failed") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempts logged: %s", logs.String())
		}
		<-time.After(10 * time.Millisecond) // the poll interval
	}
	cancel()
	<-ran
	out := logs.String()
	for _, secret := range []string{"SECRET-WEBHOOK-TOKEN", "QUERYSECRET", "hunter2", "services/T0000"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "http://127.0.0.1:1/") {
		t.Fatalf("the log does not say which webhook failed:\n%s", out)
	}
}

// A webhook that answers with a redirect is not followed: the alerts are
// not sent on to the address it names.
func TestWebhookRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var asked atomic.Int32
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, other.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	n := startNotifier(t, notifyConfig(t, redirecting.URL, ""), alertStore(t), 5*time.Second)
	_ = notifyAndWait(t, n, tr(rules.StateFiring, "h1", "e1"))
	if asked.Load() == 0 || elsewhere.Load() != 0 {
		t.Fatalf("asked %d, redirected to %d", asked.Load(), elsewhere.Load())
	}
}
