package secrets

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keyFileHeader opens every key file hookgate writes.
const keyFileHeader = "# hookgate secret key: the first key seals, later ones only open values sealed before a rotation.\n" +
	"# Keep this file with the database (a backup needs both) and readable by hookgate alone.\n"

// LoadOrCreateFile reads the keyring in the key file at path. A missing file
// is created with one new key, mode 0600, whatever the umask; created says
// so. Two processes starting at once agree on one key: the file appears
// complete or not at all (written aside, then linked into place, which fails
// if it exists).
func LoadOrCreateFile(path string) (r *Keyring, created bool, err error) {
	r, err = LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return r, false, err
	}
	k, err := NewKey()
	if err != nil {
		return nil, false, err
	}
	r = NewKeyring(k)
	tmp, err := writeTemp(path, r)
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			r, err := LoadFile(path) // another process made it first
			return r, false, err
		}
		return nil, false, fmt.Errorf("create key file %s: %w", path, err)
	}
	if err := syncDir(path); err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// LoadFile reads the keyring in the key file at path.
func LoadFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	r, err := ParseKeyring(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return r, nil
}

// WriteFile replaces the key file at path with r, atomically: the keys are
// written to a temporary file (mode 0600) in the same directory, synced, and
// renamed over path, and the directory is synced. A crash leaves either the
// old file or the new one, never a mix.
func WriteFile(path string, r *Keyring) error {
	tmp, err := writeTemp(path, r)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace key file %s: %w", path, err)
	}
	return syncDir(path)
}

func writeTemp(path string, r *Keyring) (string, error) {
	var b strings.Builder
	b.WriteString(keyFileHeader)
	for _, k := range r.keys {
		b.WriteString(k.String())
		b.WriteByte('\n')
	}
	tmp := path + ".tmp-" + strings.ToLower(rand.Text()[:8])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write key file: %w", err)
	}
	// The umask may have narrowed the mode further, never widened it; set it
	// exactly anyway, so the file is 0600 whatever the process's umask.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(b.String())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write key file: %w", err)
	}
	return tmp, nil
}

func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("sync key file directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync key file directory: %w", err)
	}
	return nil
}
