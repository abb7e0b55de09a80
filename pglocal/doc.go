// Package pglocal runs a private PostgreSQL cluster from the machine's own
// PostgreSQL binaries, for `eventops dev` when no DATABASE_URL is given: it
// initializes the cluster under a data directory on first use, starts it on
// loopback with its socket in that directory, and stops it on exit. A second
// start on the same directory reuses the cluster and its data.
//
// PostgreSQL refuses to run as root; when EventOps runs as root the cluster
// is initialized and run as the `postgres` user, who then owns the directory.
package pglocal
