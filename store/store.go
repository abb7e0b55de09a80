package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure the store.
type Options struct {
	// URL is a PostgreSQL connection string.
	URL string
	// MaxConns bounds the pool (default 8).
	MaxConns int32
	// Retention is how long metrics are kept (0, the default, keeps them
	// forever). Maintain drops the daily partitions wholly older than it,
	// and WriteMetrics refuses rows older than it with ErrExpired.
	Retention time.Duration
	// PartitionsAhead is how many days after today Maintain creates
	// partitions for (default 3).
	PartitionsAhead int
	// MaintenanceInterval is how often RunMaintenance runs (default 1h).
	MaintenanceInterval time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now    func() time.Time
	Logger *slog.Logger
}

// Store is the PostgreSQL side of EventOps.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	opts Options

	mu    sync.Mutex
	parts map[int64]bool // days (Unix day numbers) whose metrics partition exists

}

// Open connects to PostgreSQL. It does not migrate: call Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.URL == "" {
		return nil, errors.New("store: database URL is empty")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Retention < 0 {
		return nil, fmt.Errorf("store: retention %s is negative", opts.Retention)
	}
	if opts.PartitionsAhead <= 0 {
		opts.PartitionsAhead = 3
	}
	if opts.MaintenanceInterval <= 0 {
		opts.MaintenanceInterval = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	cfg.MaxConns = 8
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "eventops"
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// Session-local staging tables: unlogged, emptied at every commit.
		_, err := c.Exec(ctx, stagingDDL)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	return &Store{pool: pool, log: opts.Logger, opts: opts, parts: map[int64]bool{}}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the pool to tests and tools of this module.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Migrate brings the schema up to date. Replicas may call it at the same
// time: a PostgreSQL advisory lock lets one migrate while the others wait.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, 0) }

// migrate migrates up to version, or to the newest when version is 0.
func (s *Store) migrate(ctx context.Context, version int64) error {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("store: migrate lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrationsFS(),
		goose.WithSessionLocker(locker), goose.WithTableName("eventops_schema_version"))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	var res []*goose.MigrationResult
	if version > 0 {
		res, err = p.UpTo(ctx, version)
	} else {
		res, err = p.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range res {
		s.log.Info("migrated", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration.Round(time.Millisecond))
	}
	// A migration may have moved the connections' staging tables' base
	// tables; start from fresh sessions.
	if len(res) > 0 {
		s.pool.Reset()
	}
	return nil
}

// SchemaVersion returns the applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM eventops_schema_version WHERE is_applied`).Scan(&v)
	return v, err
}

// Transient reports whether err is worth retrying as is: the connection
// failed or the server is shutting down, as opposed to bad data.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "53", "57", "58", "40":
			return true
		}
		return false
	}
	return true
}

// isDuplicateTable reports whether err says the table to create exists.
func isDuplicateTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P07"
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// badData reports whether PostgreSQL refused err's statement because of the
// values in it.
func badData(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23":
		return true
	}
	return pe.Code == "54000" // program_limit_exceeded, e.g. an oversized row
}

// Describe names the server, user and database of a connection string, in
// whichever form pgx accepts, and nothing else: no password, and never the
// string itself, whose password may hide in a keyword, a query parameter or
// a part a URL parser refuses.
func Describe(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(unparsable)"
	}
	return fmt.Sprintf("user %s, database %s at %s", cfg.User, cfg.Database, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
}
