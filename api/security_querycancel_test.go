package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/eventops/eventops/api"
	"github.com/eventops/eventops/store"
)

// cancelRecordingStore holds a query until its context ends and says so.
type cancelRecordingStore struct {
	started   chan struct{}
	cancelled chan struct{}
}

func (s *cancelRecordingStore) QuerySeries(ctx context.Context, _ store.SeriesQuery) ([]store.Series, error) {
	s.started <- struct{}{}
	<-ctx.Done()
	s.cancelled <- struct{}{}
	return nil, ctx.Err()
}

// A client that goes away while its query runs cancels the query at once
// (not at the query timeout), so it stops holding a database connection
// and its tenant's slot.
func TestAQueryEndsWhenItsClientGoesAway(t *testing.T) {
	st := &cancelRecordingStore{started: make(chan struct{}, 1), cancelled: make(chan struct{}, 2)}
	srv := api.New(api.Options{Store: st, Logger: quiet, QueryTimeout: time.Hour})
	base := serve(t, srv)
	query := func() (goAway func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics/cpu?tenant=acme", nil)
		errs := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
		select {
		case <-st.started:
		case <-time.After(time.Minute):
			t.Fatal("the query did not start")
		}
		return func() {
			cancel() // the client closes its connection
			<-errs
			select {
			case <-st.cancelled:
			case <-time.After(time.Minute):
				t.Fatal("the query of a client that went away still runs")
			}
		}
	}
	// The second query of the tenant runs once the first one's client
	// went away: its slot is free again.
	for range 2 {
		query()()
	}
}
