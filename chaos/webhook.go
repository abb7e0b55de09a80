package chaos

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"sync"
	"time"

	"github.com/eventops/eventops/notify"
)

// delivery is one alert of a notification the harness's webhook received.
type delivery struct {
	at                      time.Time
	episode, status         string
	alertname, tenant, host string
	// sender is the API address in the alert's generatorURL: the replicas
	// name no external_url, so each links to its own API, which tells the
	// replica run that sent the notification.
	sender string
}

// webhook is the receiver of every replica's notify stage: it records each
// alert of each notification (Alertmanager webhook payload, version 4) and
// answers 200.
type webhook struct {
	srv *http.Server
	url string

	mu  sync.Mutex
	got []delivery
	// changed is closed and replaced on every delivery.
	changed chan struct{}
}

// startWebhook serves on a port of its choosing on the loopback.
func startWebhook() (*webhook, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &webhook{url: "http://" + ln.Addr().String() + "/hook", changed: make(chan struct{})}
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second}
	// Serve ends when close closes the listener.
	go func() { _ = w.srv.Serve(ln) }()
	return w, nil
}

func (w *webhook) close() { _ = w.srv.Close() }

func (w *webhook) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	var msg notify.Message
	if err == nil {
		err = json.Unmarshal(body, &msg)
	}
	if err != nil || msg.Version != "4" {
		// The notifier drops what a 4xx refuses; the check then misses it.
		http.Error(rw, "not an Alertmanager webhook payload (version 4)", http.StatusBadRequest)
		return
	}
	now := time.Now()
	w.mu.Lock()
	for _, a := range msg.Alerts {
		d := delivery{at: now, status: a.Status, alertname: a.Labels["alertname"], tenant: a.Labels["tenant"], host: a.Labels["host"]}
		if u, err := url.Parse(a.GeneratorURL); err == nil {
			d.episode, d.sender = path.Base(u.Path), u.Host
		}
		w.got = append(w.got, d)
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// deliveries returns what was received so far, in order.
func (w *webhook) deliveries() []delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]delivery(nil), w.got...)
}

// waitFor waits until the episode's status was delivered, at most timeout.
func (w *webhook) waitFor(ctx context.Context, episode, status string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		changed := w.changed
		found := false
		for _, d := range w.got {
			if d.episode == episode && d.status == status {
				found = true
				break
			}
		}
		w.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
