// Package api is EventOps's HTTP face, a Fiber v2 app: metric queries,
// alerts and their live Server-Sent-Events stream, live features, ingest,
// health and the service's own Prometheus metrics, and the embedded
// dashboard.
//
// Invariants:
//   - Every error leaves through one error handler as application/problem+json
//     with a status chosen in one place (problem.go).
//   - /metrics/{name} is the data API; the service's own metrics are at
//     /-/metrics.
//   - Every replica serves every alert and every source: the alert hub is
//     fed all of ops.alert.v1 (and ops.alert.activity.v1) and live features come from a view of the
//     features table, both read outside any consumer group
//     (processors.AlertFeed and processors.FeatureView). api reads the
//     topics through nothing else: it holds the fan-out (replay ring,
//     positions, subscribers) and owns the response bodies.
//   - An SSE client gets a bounded buffer, heartbeats, and is disconnected
//     (and counted) when it falls behind; every stream ends when the server
//     shuts down. Stream ids are positions in ops.alert.v1 (next offset per
//     partition), valid on every replica: Last-Event-ID resumes exactly, or
//     the client gets an explicit reset and the active alerts.
//   - Which tenants a request may read is decided in one place,
//     requestAccess (access.go): API keys (only their SHA-256 is kept) or a
//     signed session cookie obtained with one; every non-public route is
//     authenticated before anything else, and tenant parameters go through
//     requestTenant. A tenant's key never returns another tenant's data.
//   - POST /ingest validates with normalize, as the ingest stage does, and
//     publishes nothing for a request refused as a whole.
//   - Request bodies are streamed and read raw (body.go): each route reads at
//     most its own limit, decoded size included; only /ingest takes one
//     layer of gzip. Nothing of a request outlives it unless copied.
//   - A state-changing request a browser marks as cross-site, or with a
//     body type a page may send without a preflight, is refused; without
//     keys, so is a Host that is not loopback or allowed (guard.go).
//   - What one tenant may hold at once is capped: alert streams, database
//     reads (with a timeout), silences; over a cap is 429.
//   - POST /rules/backtest (backtest.go) replays the request's tenant only:
//     its scan names that tenant, and a sample of another tenant or host
//     from the history ends it with an error, never an answer. It loads
//     rules with the replicas' loader and options, but never executes
//     their annotation templates (text/template puts no bound on a
//     template's time, and the rules are the caller's), runs in a query slot
//     under the query timeout, ends with its client, and is bounded in
//     range, samples read and the bytes of its answer, which is sent
//     within the slot (sendInSlot): unread answers cost no more memory
//     than the slots allow.
//   - Acks, assignments and notes of an alert episode (activity.go) are
//     taken for the request's tenant only, with the key's name as the
//     actor, never what the client says of itself; another tenant's
//     episode is 404, as an unknown one. Once PostgreSQL has one, it is
//     published to ops.alert.activity.v1, and every replica's hub, fed that
//     topic by processors.AlertFeed, sends it to its streams as its own
//     event type (hubactivity.go), once per activity id; stream ids carry
//     its place there after a '~', so Last-Event-ID resumes it as well.
//     When the broker does not take it, the audit row stays and only the
//     taking replica's streams see it.
package api
