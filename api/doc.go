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
//   - Every replica serves every alert: the alert hub reads ops.alert.v1
//     itself, outside any consumer group.
//   - An SSE client gets a bounded buffer, heartbeats, and is disconnected
//     (and counted) when it falls behind; every stream ends when the server
//     shuts down.
package api
