package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	hookgate "github.com/hookgate/hookgate"
)

// Backup writes a consistent copy of the SQLite database named by url to
// dest while hookgate keeps running: VACUUM INTO reads one snapshot of the
// database in a read transaction (WAL readers do not block the writer, nor
// it them) and writes a compacted, self-contained file with no WAL beside
// it. dest must not exist; it is created with mode 0600, like the database.
// Restoring is copying the file back while hookgate is stopped.
//
// PostgreSQL is backed up with pg_dump (docs/operations.md); for a
// postgres:// url Backup returns an EInvalid error that says so.
func Backup(ctx context.Context, url, dest string) error {
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok || path == ":memory:" {
		if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
			return hookgate.Errorf(hookgate.EInvalid, "hookgate backup copies SQLite databases; back PostgreSQL up with pg_dump (see docs/operations.md)")
		}
		return hookgate.Errorf(hookgate.EInvalid, "backup needs a sqlite:// storage url with a file path")
	}
	path, _, _ = strings.Cut(path, "?")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: database %s: %w", path, err)
	}
	// Create dest first: with mode 0600, and failing if it exists, so a
	// backup never overwrites anything. VACUUM INTO accepts an empty file.
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		os.Remove(dest)
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return errors.Join(fmt.Errorf("backup %s to %s: %w", path, dest, err), os.Remove(dest))
	}
	return nil
}
