package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/secrets"
)

// Options tune OpenWith.
type Options struct {
	// SecretKey is key material given directly (HOOKGATE_SECRET_KEY): one
	// key, or several separated by commas, the first sealing and all
	// opening; each is base64 or hex of 32 bytes. It wins over the file.
	SecretKey string
	// SecretKeyFile is the key file (storage.secret_key_file). Empty means
	// DefaultKeyFile of the storage URL. A missing file is created, 0600.
	SecretKeyFile string
	// RequireKey makes Open fail when no key is configured and none has a
	// default place (PostgreSQL), instead of opening a store that cannot
	// store connections.
	RequireKey bool
}

// DefaultKeyFile is where the key of a storage URL lives when no key is
// configured: next to the SQLite file, named after it (hookgate.db →
// hookgate.key), so the database and its key share a directory and a
// backup. Empty for PostgreSQL and SQLite :memory:.
func DefaultKeyFile(url string) string {
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok || url == "sqlite://:memory:" {
		return ""
	}
	path, _, _ = strings.Cut(path, "?")
	if path == "" {
		return ""
	}
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".key"
}

// openKeys finds the keyring of a store: the given key material, else the
// key file (created if missing), else for :memory: a new key that lives as
// long as the database does. For PostgreSQL without any it returns nil:
// several instances share the database, and a key that one of them made up
// would leave the others unable to open what it sealed.
func openKeys(url string, opts Options) (ring *secrets.Keyring, file string, err error) {
	if err := CheckKey(url, opts); err != nil {
		return nil, "", err
	}
	if opts.SecretKey != "" {
		ring, err := secrets.ParseKeyring(opts.SecretKey)
		if err != nil {
			return nil, "", err
		}
		return ring, "", nil
	}
	file = opts.SecretKeyFile
	if file == "" {
		file = DefaultKeyFile(url)
	}
	if file != "" {
		ring, _, err := secrets.LoadOrCreateFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("secret key: %w", err)
		}
		return ring, file, nil
	}
	if url == "sqlite::memory:" || url == "sqlite://:memory:" {
		k, err := secrets.NewKey()
		if err != nil {
			return nil, "", err
		}
		return secrets.NewKeyring(k), "", nil
	}
	return nil, "", nil
}

// CheckKey reports, without touching any file, what OpenWith would refuse
// in the key settings: key material that does not parse, or, with
// RequireKey, PostgreSQL without a key. `hookgate config check` runs it.
func CheckKey(url string, opts Options) error {
	if opts.SecretKey != "" {
		if _, err := secrets.ParseKeyring(opts.SecretKey); err != nil {
			return hookgate.Errorf(hookgate.EInvalid, "HOOKGATE_SECRET_KEY: %v", err)
		}
		return nil
	}
	memory := url == "sqlite::memory:" || url == "sqlite://:memory:"
	if opts.RequireKey && opts.SecretKeyFile == "" && DefaultKeyFile(url) == "" && !memory {
		return hookgate.Errorf(hookgate.EInvalid,
			"PostgreSQL storage needs a secret key that every instance shares, to seal the connection secrets it stores: set HOOKGATE_SECRET_KEY (32 bytes, base64 or hex) or storage.secret_key_file")
	}
	return nil
}

// errNoKey is the answer to sealing or opening without a keyring.
var errNoKey = hookgate.Errorf(hookgate.EInvalid,
	"no secret key is configured, so connection secrets cannot be sealed or opened: set HOOKGATE_SECRET_KEY or storage.secret_key_file")

// Keys returns the keyring that seals stored connections (nil when no key
// is configured).
func (db *DB) Keys() *secrets.Keyring { return db.keys.Load() }

// Fingerprint is the keyed fingerprint of a secret under the store's
// current key (secrets.Keyring.Fingerprint), or "" without a key.
func (db *DB) Fingerprint(secret string) string {
	if r := db.keys.Load(); r != nil {
		return r.Fingerprint(secret)
	}
	return ""
}

// connectionAD binds a sealed config to its row: opened under another
// connection's name or type it fails, so a sealed secret copied into
// another row cannot be put to use there.
func connectionAD(typ, name string) []byte {
	return []byte("hookgate connection v1\x00" + typ + "\x00" + name)
}

// seal returns the stored form of a connection's JSON config.
func (db *DB) seal(typ, name string, config []byte) (string, error) {
	r := db.keys.Load()
	if r == nil {
		return "", errNoKey
	}
	return r.Seal(config, connectionAD(typ, name)), nil
}

// unseal returns the JSON config of a stored connection row (open).
func (db *DB) unseal(typ, name, stored string) ([]byte, error) {
	return db.open(stored, connectionAD(typ, name))
}

// open returns the JSON config of a stored row bound to ad: opened when
// sealed, as is when it is the plaintext of a database older than sealing
// (Open seals those). A value sealed under a key the ring lacks makes the
// store re-read its key file once: another process may have rotated it.
func (db *DB) open(stored string, ad []byte) ([]byte, error) {
	if !secrets.IsSealed(stored) {
		return []byte(stored), nil
	}
	r := db.keys.Load()
	if r == nil {
		return nil, errNoKey
	}
	b, err := r.Open(stored, ad)
	if errors.Is(err, secrets.ErrUnknownKey) && db.keyFile != "" {
		if fresh, ferr := secrets.LoadFile(db.keyFile); ferr == nil {
			if b, err = fresh.Open(stored, ad); err == nil {
				db.keys.CompareAndSwap(r, secrets.NewKeyring(fresh.Current(), append(fresh.Keys(), r.Keys()...)...))
			}
		}
	}
	if errors.Is(err, secrets.ErrUnknownKey) {
		return nil, fmt.Errorf("%w: the secret key configured is not the one this row was stored with (HOOKGATE_SECRET_KEY, storage.secret_key_file)", err)
	}
	return b, err
}

// sealedTable is a table whose config column is sealed, and the additional
// data that binds a row's config to the row.
type sealedTable struct {
	name string
	ad   func(typ, name string) []byte
}

// sealedTables are the tables that hold secrets: run-time connections and
// run-time handlers.
var sealedTables = []sealedTable{
	{"connections", connectionAD},
	{"handlers", func(_, name string) []byte { return handlerAD(name) }},
}

// reseal seals, in one transaction, every stored connection that is not
// sealed under ring's current key: plaintext rows of older databases, and
// rows sealed under an older key. It returns how many it changed. Each
// update is conditional on the row being unchanged, so a concurrent writer
// (another instance) is never overwritten with an older config.
func (db *DB) reseal(ctx context.Context, ring *secrets.Keyring) (int, error) {
	n, _, err := db.resealCounting(ctx, ring)
	return n, err
}

// resealCounting is reseal that also says how many of the rows it sealed
// were in clear.
func (db *DB) resealCounting(ctx context.Context, ring *secrets.Keyring) (n, inClear int, err error) {
	if db.d.name == "sqlite" {
		// Zero the space the old values free, so a value sealed under a
		// retired key does not linger in the file (copies that page splits
		// left only a VACUUM removes: Open runs one after sealing rows that
		// were in clear). The write pool is one connection, so the setting
		// holds for the transaction below; it is turned off after, because
		// zeroing freed space on every receipt write would cost the hot
		// path.
		if _, err := db.write.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
			return 0, 0, fmt.Errorf("seal stored secrets: %w", err)
		}
		defer db.write.ExecContext(context.WithoutCancel(ctx), "PRAGMA secure_delete = OFF")
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		n, inClear = 0, 0
		for _, tb := range sealedTables {
			k, clear, err := db.resealTable(ctx, tx, ring, tb)
			if err != nil {
				return err
			}
			n, inClear = n+k, inClear+clear
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("seal stored secrets: %w", err)
	}
	return n, inClear, nil
}

// resealTable re-seals, in tx, the rows of one sealed table that are not
// sealed under ring's current key.
func (db *DB) resealTable(ctx context.Context, tx *sql.Tx, ring *secrets.Keyring, tb sealedTable) (n, inClear int, err error) {
	cur := ring.Current().ID()
	rows, err := tx.QueryContext(ctx, `SELECT name, type, config FROM `+tb.name+` ORDER BY name`+db.d.lockRows)
	if err != nil {
		return 0, 0, err
	}
	type row struct{ name, typ, config string }
	var stale []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.name, &r.typ, &r.config); err != nil {
			rows.Close()
			return 0, 0, err
		}
		if secrets.SealedKeyID(r.config) != cur {
			stale = append(stale, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	for _, r := range stale {
		plain, err := db.open(r.config, tb.ad(r.typ, r.name))
		if err != nil {
			return 0, 0, fmt.Errorf("%s %s: %w", tb.name[:len(tb.name)-1], r.name, err)
		}
		res, err := tx.ExecContext(ctx, db.d.q(`UPDATE `+tb.name+` SET config = ? WHERE name = ? AND config = ?`),
			ring.Seal(plain, tb.ad(r.typ, r.name)), r.name, r.config)
		if err != nil {
			return 0, 0, err
		}
		if k, err := res.RowsAffected(); err == nil {
			n += int(k)
			if !secrets.IsSealed(r.config) {
				inClear += int(k)
			}
		}
	}
	return n, inClear, nil
}

// RotateKey replaces the key of the key file with a new one and re-seals
// every stored connection under it, in an order a crash cannot break: the
// new key is written to the file next to the old one first (atomically),
// then every row is re-sealed in one transaction, and only after that commit
// is the old key dropped from the file. Interrupted anywhere, the file holds
// every key a row may be sealed under; the next Open re-seals the rest.
//
// Only a key file can be rotated this way: a key given as HOOKGATE_SECRET_KEY
// is rotated by the operator (docs/configuration.md), and RotateKey refuses it
// with EInvalid. The store serialises RotateKey with its own connection
// writes; another process writing connections meanwhile with the old key in
// memory would seal under a key the file no longer holds, so with several
// instances rotate through HOOKGATE_SECRET_KEY.
func (db *DB) RotateKey(ctx context.Context) (secrets.Rotation, error) {
	db.keyMu.Lock()
	defer db.keyMu.Unlock()
	old := db.keys.Load()
	if db.keyFile == "" || old == nil {
		return secrets.Rotation{}, hookgate.Errorf(hookgate.EInvalid,
			"the secret key does not come from a key file (it is HOOKGATE_SECRET_KEY, or there is none): rotate it by setting HOOKGATE_SECRET_KEY to \"NEW,OLD\", restarting, then to \"NEW\" (docs/configuration.md, \"The secret key\")")
	}
	k, err := secrets.NewKey()
	if err != nil {
		return secrets.Rotation{}, err
	}
	both := secrets.NewKeyring(k, old.Keys()...)
	if err := secrets.WriteFile(db.keyFile, both); err != nil {
		return secrets.Rotation{}, fmt.Errorf("rotate key: %w", err)
	}
	db.keys.Store(both)
	n, err := db.reseal(ctx, both)
	if err != nil {
		return secrets.Rotation{}, fmt.Errorf("rotate key: %w", err)
	}
	only := secrets.NewKeyring(k)
	if err := secrets.WriteFile(db.keyFile, only); err != nil {
		// Every row is sealed under the new key, which the file holds:
		// keeping the old one too is harmless.
		return secrets.Rotation{}, fmt.Errorf("rotate key: drop the old key: %w", err)
	}
	db.keys.Store(only)
	return secrets.Rotation{KeyID: k.ID(), Resealed: n}, nil
}

// secureFiles makes the SQLite database 0600 before SQLite opens it,
// whatever the umask: the file is created here if missing (SQLite takes an
// empty file as a new database), and an existing one, with its -wal and
// -shm files, is narrowed. SQLite gives the -wal and -shm files it creates
// the mode of the database file.
func secureFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	for _, side := range []string{path + "-wal", path + "-shm"} {
		if err := os.Chmod(side, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	return nil
}
