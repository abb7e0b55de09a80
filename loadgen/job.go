package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/eventops/eventops/api"
)

// Job is one run of the load generator as `eventops loadgen` runs it: the
// agents to simulate, where their records go, how they are paced, and the
// summary line it ends with.
type Job struct {
	Gen  Options
	Pace RunOptions
	// HTTP is the URL of POST /ingest to send the records to; without it
	// they are produced to ingest.raw.agent on Brokers.
	HTTP    string
	Brokers []string
	// APIKey is sent with every request over HTTP. When Gen names one
	// tenant and not which, the records are written as the key's tenant
	// (an admin key writes Gen's own).
	APIKey string
	// JSON prints the summary as JSON instead of a line of text.
	JSON   bool
	Out    io.Writer
	Logger *slog.Logger
}

// Run sends the records, prints the summary to Out, and fails when the
// run did, or when the server refused any event.
func (j Job) Run(ctx context.Context) error {
	sink, err := j.sink(ctx)
	if err != nil {
		return err
	}
	if ks, ok := sink.(*KafkaSink); ok {
		defer ks.Close()
	}
	g := NewGenerator(j.Gen, time.Now())
	j.logStart(g.Options())
	sum, err := Run(ctx, g, sink, j.Pace)
	if j.JSON {
		b, _ := json.Marshal(sum)
		fmt.Fprintln(j.Out, string(b))
	} else {
		sum.writeLine(j.Out, j.HTTP != "")
	}
	if err == nil && sum.Refused > 0 {
		err = fmt.Errorf("the server refused %d of %d events", sum.Refused, sum.Events+sum.Malformed)
	}
	return err
}

// sink is where the records go: POST /ingest (writing as the API key's
// tenant), or the raw topic. It may set the tenant of j.Gen.
func (j *Job) sink(ctx context.Context) (Sink, error) {
	if j.HTTP == "" {
		return NewKafkaSink(j.Brokers)
	}
	hs := &HTTPSink{URL: j.HTTP}
	if j.APIKey != "" {
		hs.Header = map[string][]string{"Authorization": {"Bearer " + j.APIKey}}
		if j.Gen.Tenant == "" && j.Gen.Tenants <= 1 {
			tenant, err := keyTenant(ctx, j.HTTP, j.APIKey)
			if err != nil {
				return nil, err
			}
			j.Gen.Tenant = tenant
		}
	}
	return hs, nil
}

// logStart says which tenants and hosts the records are of, and their
// event times.
func (j Job) logStart(o Options) {
	tenant := TenantName(0)
	if j.Gen.Tenant != "" {
		tenant = j.Gen.Tenant
	}
	if j.Gen.Tenants > 1 {
		tenant = fmt.Sprintf("%s … %s", TenantName(0), TenantName(j.Gen.Tenants-1))
	}
	j.Logger.Info("loadgen", "tenants", tenant, "hosts", fmt.Sprintf("%s … %s", SourceName(0), SourceName(max(j.Gen.Sources, 1)-1)),
		"interval", o.Interval, "start", o.Start.Format(time.RFC3339))
}

// writeLine writes the summary as one line; refused shows what the server
// refused (over HTTP).
func (s Summary) writeLine(w io.Writer, refused bool) {
	r := ""
	if refused {
		r = fmt.Sprintf(", %d refused", s.Refused)
	}
	fmt.Fprintf(w, "sent %d events in %d records (%d malformed%s) in %s: %.0f events/s, %d errors\n",
		s.Events, s.Records, s.Malformed, r, s.Elapsed.Round(time.Millisecond), s.Rate, s.Errors)
}

// keyTenant asks the API which tenant key may write (GET /auth/session);
// empty for an admin key, which writes any.
func keyTenant(ctx context.Context, ingestURL, key string) (string, error) {
	u, err := url.Parse(ingestURL)
	if err != nil {
		return "", err
	}
	u.Path, u.RawQuery = "/auth/session", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("asking %s whose key this is: %w", u, err)
	}
	defer resp.Body.Close()
	var s struct {
		Authenticated bool   `json:"authenticated"`
		Tenant        string `json:"tenant"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("asking %s whose key this is: %s", u, resp.Status)
	}
	if !s.Authenticated {
		return "", errors.New("the server does not know this API key")
	}
	if s.Tenant == api.AllTenants {
		return "", nil
	}
	return s.Tenant, nil
}
