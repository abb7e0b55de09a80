// Package pglocal runs a private PostgreSQL cluster from the machine's own
// PostgreSQL binaries, for `eventops dev` when no DATABASE_URL is given: it
// initializes the cluster under a data directory on first use, starts it on
// loopback with its socket in that directory, and stops it on exit. A later
// start on the same directory reuses the cluster and its data.
//
// The port is stable across restarts of the same directory: the port of the
// last start is kept in the directory (the file `port`) and used again.
// PostgreSQL cannot listen on port 0, so the first start picks a free port
// itself. A start that was not given a port and finds its port taken picks
// another (a bounded number of times) and keeps that one; a start given a
// port fails with ErrPortInUse instead.
//
// The cluster has one user, postgres, who must give its password: it is
// generated on first start, kept in the directory (the file `password`),
// and part of the URL kept next to it (the file `url`); pg_hba.conf admits
// no one else. The directory is its owner's alone (mode 0700). A cluster
// initialized by an earlier version, which trusted local connections, gets
// a password at its next start; the final pg_hba.conf is written only after
// the user has the password, so a conversion cut short is redone at the
// next start with the kept password. The files of the directory are
// replaced atomically.
//
// A running cluster holds an exclusive lock on the file `lock` in its
// directory, with its pid in it; a second start on the same directory is
// refused with that pid while the first runs. A server left running by an
// owner that died (no one holds the lock) is stopped and started again.
//
// PostgreSQL refuses to run as root; when EventOps runs as root the cluster
// is initialized and run as the `postgres` user, who then owns the directory.
package pglocal
