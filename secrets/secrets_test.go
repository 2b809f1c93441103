package secrets_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hookgate/hookgate/secrets"
)

func newKey(t *testing.T) *secrets.Key {
	t.Helper()
	k, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	r := secrets.NewKeyring(newKey(t))
	ad := []byte("github/primary")
	sealed := r.Seal([]byte("s3cret"), ad)
	if strings.Contains(sealed, "s3cret") || !secrets.IsSealed(sealed) || secrets.SealedKeyID(sealed) != r.Current().ID() {
		t.Fatalf("sealed = %q", sealed)
	}
	if again := r.Seal([]byte("s3cret"), ad); again == sealed {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	got, err := r.Open(sealed, ad)
	if err != nil || string(got) != "s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := r.Open(sealed, []byte("github/other")); err == nil {
		t.Error("opened with another connection's associated data")
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	if _, err := r.Open(tampered, ad); err == nil {
		t.Error("opened an altered value")
	}
	if _, err := secrets.NewKeyring(newKey(t)).Open(sealed, ad); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Errorf("Open under another key = %v, want ErrUnknownKey", err)
	}
	// A ring that kept the old key during a rotation opens old values and
	// seals new ones under the new key.
	rotated := secrets.NewKeyring(newKey(t), r.Current())
	if got, err := rotated.Open(sealed, ad); err != nil || string(got) != "s3cret" {
		t.Fatalf("rotated Open = %q, %v", got, err)
	}
	if id := secrets.SealedKeyID(rotated.Seal([]byte("x"), ad)); id != rotated.Current().ID() || id == r.Current().ID() {
		t.Errorf("rotated ring seals under %s", id)
	}
}

func TestParseKeyring(t *testing.T) {
	t.Parallel()
	a, b := newKey(t), newKey(t)
	raw := a.String()
	hexKey := func(k *secrets.Key) string {
		b, err := base64.StdEncoding.DecodeString(k.String())
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	for _, in := range []string{raw, strings.TrimRight(raw, "="), hexKey(a), " " + raw + "\n"} {
		r, err := secrets.ParseKeyring(in)
		if err != nil || r.Current().ID() != a.ID() {
			t.Errorf("ParseKeyring(form of a) = %v, %v", r, err)
		}
	}
	r, err := secrets.ParseKeyring(b.String() + "," + a.String())
	if err != nil || r.Current().ID() != b.ID() || len(r.Keys()) != 2 {
		t.Fatalf("two keys: %v %v", r, err)
	}
	for _, bad := range []string{"", "short", "c2hvcnQ=", strings.Repeat("zz", 32)} {
		if _, err := secrets.ParseKeyring(bad); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("the error quotes the key material: %v", err)
		}
	}
}

// TestFingerprintKeyed: the fingerprint depends on the key, so whoever
// lacks it cannot test a guess against it: neither the unkeyed SHA-256 of
// the secret nor an HMAC under any key but the master key's derived one
// gives it.
func TestFingerprintKeyed(t *testing.T) {
	t.Parallel()
	r1, r2 := secrets.NewKeyring(newKey(t)), secrets.NewKeyring(newKey(t))
	fp := r1.Fingerprint("guess-me")
	if fp != r1.Fingerprint("guess-me") || len(strings.TrimPrefix(fp, "hmac:")) != secrets.FingerprintLen {
		t.Fatalf("fingerprint %q not stable or not %d hex digits", fp, secrets.FingerprintLen)
	}
	if fp == r2.Fingerprint("guess-me") {
		t.Error("two keys give one fingerprint")
	}
	if fp == r1.Fingerprint("guess-me2") {
		t.Error("two secrets give one fingerprint")
	}
	sum := sha256.Sum256([]byte("guess-me"))
	m := hmac.New(sha256.New, nil)
	m.Write([]byte("guess-me"))
	for _, unkeyed := range []string{hex.EncodeToString(sum[:]), hex.EncodeToString(m.Sum(nil))} {
		if strings.Contains(unkeyed, strings.TrimPrefix(fp, "hmac:")) {
			t.Error("the fingerprint is computable without the key")
		}
	}
}

// TestKeyFileCreated: a missing key file is created 0600 whatever the
// umask, read back the same, and two processes racing to create it agree.
func TestKeyFileCreated(t *testing.T) {
	// Not parallel: it sets the process umask.
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "hookgate.key")
	var wg sync.WaitGroup
	ids := make([]string, 8)
	created := make([]bool, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, c, err := secrets.LoadOrCreateFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], created[i] = r.Current().ID(), c
		}()
	}
	wg.Wait()
	n := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("racing creators got keys %v", ids)
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d creators say they created the file, want 1", n)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o, want 600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the key file (no temporary left)", len(entries))
	}
	// Rewriting keeps 0600 and is read back.
	k := newKey(t)
	if err := secrets.WriteFile(path, secrets.NewKeyring(k)); err != nil {
		t.Fatal(err)
	}
	r, err := secrets.LoadFile(path)
	if err != nil || r.Current().ID() != k.ID() {
		t.Fatalf("LoadFile = %v, %v", r, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("rewritten key file mode %o, want 600", st.Mode().Perm())
	}
}
