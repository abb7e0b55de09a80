package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ingestServer answers POST /ingest with answer(lines of the request).
func ingestServer(t *testing.T, answer func(w http.ResponseWriter, lines []string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lines []string
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		answer(w, lines)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A run bounded by Duration ends without an error, and a request still on
// its way at the deadline is delivered, not cut.
func TestDurationEndsCleanly(t *testing.T) {
	var mu sync.Mutex
	got := 0
	slow := time.Now().Add(300 * time.Millisecond)
	srv := ingestServer(t, func(w http.ResponseWriter, lines []string) {
		<-time.After(time.Until(slow)) // a server slower than the run is long
		mu.Lock()
		got += len(lines)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d,"rejected":0,"errors":[]}`, len(lines))
	})
	g := NewGenerator(Options{Sources: 5, Metrics: 2, Seed: 1}, time.Now())
	sum, err := Run(context.Background(), g, &HTTPSink{URL: srv.URL, Batch: 10}, RunOptions{Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("a run that ended at its duration failed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sum.Events == 0 || int64(got) != sum.Events || sum.Refused != 0 || sum.Errors != 0 {
		t.Fatalf("summary %+v, the server got %d", sum, got)
	}
}

// Event time stays at the wall clock at Speed 1: a round due in an hour is
// not sent by a run that lasts a moment.
func TestSpeedKeepsEventTimeAtTheClock(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	srv := ingestServer(t, func(w http.ResponseWriter, l []string) {
		mu.Lock()
		lines = append(lines, l...)
		mu.Unlock()
		fmt.Fprintf(w, `{"accepted":%d}`, len(l))
	})
	now := time.Now()
	g := NewGenerator(Options{Sources: 3, Metrics: 2, Interval: time.Hour, Start: now, Seed: 1}, now)
	sum, err := Run(context.Background(), g, &HTTPSink{URL: srv.URL}, RunOptions{Speed: 1, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 6 {
		t.Fatalf("%d events sent, want the first round's 6", sum.Events)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range lines {
		if !strings.Contains(l, now.UTC().Format(time.RFC3339Nano)) {
			t.Fatalf("an event of a later round went out: %s", l)
		}
	}
}

// What the server refuses is counted as refused, not as sent.
func TestRefusedEventsAreCounted(t *testing.T) {
	forbidden := ingestServer(t, func(w http.ResponseWriter, _ []string) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"status":403,"detail":"names tenant \"tenant-00\", which this key may not write"}`)
	})
	g := NewGenerator(Options{Sources: 5, Metrics: 2, Rounds: 1, Seed: 1}, time.Now())
	sum, err := Run(context.Background(), g, &HTTPSink{URL: forbidden.URL}, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "may not write") || strings.Contains(err.Error(), `"status"`) {
		t.Fatalf("error %v, want the problem's detail", err)
	}
	if sum.Refused != 10 || sum.Errors != 1 {
		t.Fatalf("summary %+v, want 10 refused", sum)
	}

	partly := ingestServer(t, func(w http.ResponseWriter, l []string) {
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d,"rejected":1}`, len(l)-1)
	})
	g = NewGenerator(Options{Sources: 5, Metrics: 2, Rounds: 1, Seed: 1}, time.Now())
	if sum, err = Run(context.Background(), g, &HTTPSink{URL: partly.URL}, RunOptions{}); err != nil || sum.Refused != 1 {
		t.Fatalf("summary %+v, %v: want 1 refused", sum, err)
	}
}

func TestTenantNamesTheOneTenant(t *testing.T) {
	for _, r := range all(Options{Tenant: "acme", Sources: 2, Metrics: 1, Rounds: 1, Keyed: true}) {
		if !strings.HasPrefix(string(r.Value), `{"tenant_id":"acme"`) || string(r.Key[:5]) != "acme/" {
			t.Fatalf("record %s (key %s)", r.Value, r.Key)
		}
	}
	if err := (Options{Tenant: "acme", Tenants: 2}).Validate(); err == nil {
		t.Fatal("a tenant name for two tenants accepted")
	}
}
