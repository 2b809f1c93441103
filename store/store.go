// Package store implements hookgate.Store on SQLite (the embedded default) and
// PostgreSQL (several instances sharing one queue), with one implementation
// over database/sql and a small dialect for the differences.
//
// The receipts table is also the dispatch queue: a receipt whose
// next_attempt_at is set is a pending job, and Claim leases it by setting
// lease_owner and lease_until. Storing the receipt and queueing it is one
// row, so "stored" and "queued" can never disagree.
//
// Times are stored as unix microseconds (UTC) in both dialects, so both share
// the queries and the listing cursor; values returned are in UTC with
// microsecond precision.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	neturl "net/url"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/secrets"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	_ "modernc.org/sqlite"             // registers driver "sqlite"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// DB is a hookgate.Store backed by SQLite or PostgreSQL.
type DB struct {
	// write runs every transaction that changes data. On SQLite it is a
	// single connection: SQLite allows one writer at a time anyway, and
	// queueing writers in Go's pool (FIFO, honouring ctx deadlines) is
	// cheaper and fairer than letting several connections spin on
	// SQLITE_BUSY. Its transactions begin IMMEDIATE (_txlock), so a
	// read-then-write transaction (Claim, Complete, Replay) holds the write
	// lock from its first statement and never fails upgrading a read lock.
	write *sql.DB
	// read serves queries outside transactions. On SQLite it is a separate
	// pool of query_only connections: in WAL mode readers never block the
	// writer nor wait for it. On PostgreSQL, and for SQLite :memory: (one
	// connection holds the whole database), it is the same *sql.DB as write.
	read *sql.DB
	d    dialect
	// batch runs every write as part of a group commit (batch.go); stmts
	// are SQLite's prepared hot-path statements, prepared on open.
	batch *batcher
	stmts map[string]*sql.Stmt
	// ckpt folds SQLite's WAL into the database file off the write path
	// (checkpoint.go); nil on PostgreSQL and :memory:.
	ckpt *checkpointer
	// keys seal the connections stored at run time (seal.go); nil when no
	// key is configured. keyFile is where they came from ("" for a key
	// given directly), and keyMu keeps connection writes out of a rotation.
	keys    atomic.Pointer[secrets.Keyring]
	keyFile string
	keyMu   sync.RWMutex
	// health is the outcome of the latest writes, for Ping (health.go).
	health *writeHealth
	// applied lists the migrations Open applied, and version is the
	// schema version after them, for `hookgate migrate` to report.
	applied []string
	version int64
}

var _ hookgate.Store = (*DB)(nil)

// Open connects to the database named by url and applies pending
// migrations. url is one of:
//
//	sqlite://path/to/file.db   (sqlite:///abs/path.db for an absolute path)
//	sqlite::memory:            (one private in-memory database, for tests)
//	postgres://user:pass@host:5432/db?sslmode=disable   (or postgresql://)
//
// The key that seals stored connection secrets is the one of DefaultKeyFile
// (created if missing); OpenWith takes another.
func Open(ctx context.Context, url string) (*DB, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith is Open with the secret key chosen by opts. Once migrations ran,
// every stored connection that is plaintext (a database older than sealing)
// or sealed under an older key is sealed under the current key.
func OpenWith(ctx context.Context, url string, opts Options) (*DB, error) {
	if err := CheckURL(url); err != nil {
		return nil, err
	}
	var (
		db  *DB
		err error
	)
	ring, keyFile, err := openKeys(url, opts)
	if err != nil {
		return nil, err
	}
	switch {
	case url == "sqlite::memory:" || url == "sqlite://:memory:":
		db, err = openSQLiteMemory()
	case strings.HasPrefix(url, "sqlite://"):
		db, err = openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err = openPostgres(ctx, url)
	default:
		return nil, hookgate.Errorf(hookgate.EInvalid, "storage url must start with sqlite:// or postgres://")
	}
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.keyFile = keyFile
	if ring != nil {
		db.keys.Store(ring)
		_, inClear, err := db.resealCounting(ctx, ring)
		if err != nil {
			db.Close()
			return nil, err
		}
		if inClear > 0 {
			// The clear text of those rows survives the update: in SQLite
			// in free space and in gaps that page splits left, in
			// PostgreSQL in dead row versions. Rewrite the file (the
			// table), once, on the first start after an upgrade from a
			// version that stored secrets in clear.
			vacuum := "VACUUM"
			if db.d.name == "postgres" {
				vacuum = "VACUUM FULL connections"
			}
			if _, err := db.write.ExecContext(ctx, vacuum); err != nil {
				db.Close()
				return nil, fmt.Errorf("vacuum after sealing secrets stored in clear: %w", err)
			}
		}
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if db.ckpt != nil {
		// Query planner statistics: without them SQLite may list one
		// connection's receipts by status through the all-connections
		// status index and scan a million rows (see optimize in
		// checkpoint.go). Cheap when the statistics are current.
		if _, err := db.write.ExecContext(ctx, sqliteOptimizeOnOpen); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite optimize: %w", err)
		}
	}
	var (
		beforeBatch func() error
		afterBatch  func()
	)
	db.health = newWriteHealth()
	if db.ckpt != nil {
		beforeBatch = func() error { return db.ckpt.beforeBatch(db.write) }
		afterBatch = func() { db.ckpt.afterBatch(db.write) }
		db.health.onFailure = db.ckpt.writeFailed
	}
	db.batch = newBatcher(db, db.d.batchLanes, beforeBatch, afterBatch)
	db.health.startProber(db)
	return db, nil
}

// CheckURL reports whether url names a database Open can open, without
// opening it (`hookgate config check` runs it).
func CheckURL(url string) error {
	switch {
	case url == "sqlite::memory:", strings.HasPrefix(url, "sqlite://"),
		strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return nil
	}
	return hookgate.Errorf(hookgate.EInvalid, "storage url must start with sqlite:// or postgres://")
}

// sqlitePragmas make every acknowledged delivery durable: WAL so readers do
// not block the writer, synchronous=FULL so a commit is fsynced before it
// returns (NORMAL would survive kill -9 but may lose the last commits on
// power loss), a busy timeout for the reader pool and other processes (the
// `hookgate` CLI on the same file), foreign keys for the cascades, and
// temporary data (statement journals, sorts) in memory instead of temporary
// files.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"

func openSQLite(ctx context.Context, path string) (*DB, error) {
	path, extra, _ := strings.Cut(path, "?")
	if path == "" {
		return nil, hookgate.Errorf(hookgate.EInvalid, "sqlite storage url has no file path")
	}
	if extra != "" {
		extra = "&" + extra
	}
	if err := secureFiles(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", path+"?"+sqlitePragmas+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate"+extra)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect the writer first: it creates the file and switches it to WAL
	// (a persistent setting) before any reader opens it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_pragma=query_only(1)"+extra)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	c, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_pragma=synchronous(FULL)"+extra)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	return &DB{write: w, read: r, d: sqliteDialect, ckpt: newCheckpointer(c, path)}, nil
}

func openSQLiteMemory() (*DB, error) {
	w, err := sql.Open("sqlite", ":memory:?_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite :memory:: %w", err)
	}
	// Every connection to :memory: is a new, empty database: keep exactly
	// one, forever.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	return &DB{write: w, read: w, d: sqliteDialect}, nil
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := createSchema(ctx, db, url); err != nil {
		db.Close()
		return nil, err
	}
	db.SetMaxOpenConns(max(8, 2*runtime.GOMAXPROCS(0)))
	db.SetMaxIdleConns(max(8, 2*runtime.GOMAXPROCS(0)))
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{write: db, read: db, d: postgresDialect}, nil
}

// Migrate applies pending migrations. It is idempotent and safe to run from
// several instances at once: on PostgreSQL a session advisory lock, keyed by
// the current schema, serialises them.
func (db *DB) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+db.d.name)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var opts []goose.ProviderOption
	if db.d.name == "postgres" {
		var schema string
		if err := db.write.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("hookgate migrations " + schema))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()>>1)),
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(db.d.goose, db.write, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		if r.Source != nil {
			db.applied = append(db.applied, path.Base(r.Source.Path))
		}
	}
	if db.version, err = p.GetDBVersion(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Migrations reports the migrations this DB applied (when Open created or
// upgraded the schema) and the schema version it is at.
func (db *DB) Migrations() (applied []string, version int64) {
	return slices.Clone(db.applied), db.version
}

// createSchema creates the schema a PostgreSQL URL names first in its
// search_path (?search_path=hookgate), so that hookgate can share a
// database with other applications in a schema of its own.
func createSchema(ctx context.Context, db *sql.DB, url string) error {
	u, err := neturl.Parse(url)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	sp := u.Query().Get("search_path")
	if sp == "" {
		return nil
	}
	schema := strings.Trim(strings.TrimSpace(strings.Split(sp, ",")[0]), `"`)
	if schema == "" || schema == "$user" {
		return nil
	}
	// Look first: a role without CREATE on the database may still own a
	// schema made for it, and CREATE SCHEMA IF NOT EXISTS checks the
	// privilege before it checks whether the schema exists.
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %q: %w", schema, err)
	}
	return nil
}

// Ping checks that the latest writes did not fail (see Write health) and
// that both pools answer. While writes fail it returns an EUnavailable error
// whose message says since when and why, in words safe to show.
func (db *DB) Ping(ctx context.Context) error {
	if db.health != nil {
		if err := db.health.err(); err != nil {
			return err
		}
	}
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping storage: %w", err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("ping storage: %w", err)
		}
	}
	return nil
}

// Close closes the connections. On SQLite the writer closes last, so the
// final checkpoint folds the WAL into the database file.
func (db *DB) Close() error {
	if db.health != nil {
		db.health.stopProber()
	}
	if db.batch != nil {
		db.batch.close()
	}
	for _, st := range db.stmts {
		st.Close()
	}
	var err error
	if db.ckpt != nil {
		err = db.ckpt.close()
	}
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return errors.Join(err, db.write.Close())
}

// inTx runs fn in a write transaction and commits; any error rolls back.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
