// Package secrets seals the secrets hookgate keeps in its database (SPEC §9):
// AES-256-GCM under a 32-byte master key that never enters the database, and
// a keyed fingerprint that names a secret without letting anyone who lacks
// the key confirm a guess.
//
// A Keyring holds the key that seals (the first) and the keys that may still
// open older values (the rest, kept during a rotation). Every sealed value
// names the key that sealed it, so a rotation can tell old from new.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a master key: AES-256.
const KeySize = 32

// sealedPrefix starts every sealed value. A plaintext connection config is a
// JSON object and starts with "{", so the two never mix up.
const sealedPrefix = "hgs1."

// ErrUnknownKey is returned by Open for a value sealed under a key the
// keyring does not hold.
var ErrUnknownKey = errors.New("sealed under a key this keyring does not hold")

// Key is one master key with the keys derived from it.
type Key struct {
	id   string
	aead cipher.AEAD
	fp   []byte // fingerprint key
	raw  []byte
}

// NewKey returns a fresh random key.
func NewKey() (*Key, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	return newKey(raw)
}

func newKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	// Separate keys for separate jobs: the id and the fingerprint key are
	// derived with their own labels, so neither reveals the sealing key nor
	// each other.
	idKey, err := hkdf.Key(sha256.New, raw, nil, "hookgate key id v1", 4)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	fp, err := hkdf.Key(sha256.New, raw, nil, "hookgate fingerprint v1", 32)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Key{id: "k" + hex.EncodeToString(idKey), aead: aead, fp: fp, raw: append([]byte(nil), raw...)}, nil
}

// ParseKey reads a key written as base64 (standard or URL alphabet, padded
// or not) or as 64 hex digits. The error never quotes the input.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if raw, err := hex.DecodeString(s); err == nil {
			return newKey(raw)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(raw))
			}
			return newKey(raw)
		}
	}
	return nil, fmt.Errorf("secret key is neither base64 nor hex of %d bytes", KeySize)
}

// ID names the key in sealed values and messages; it reveals nothing of it.
func (k *Key) ID() string { return k.id }

// String is the key in its file form (standard base64).
func (k *Key) String() string { return base64.StdEncoding.EncodeToString(k.raw) }

// Keyring is the key that seals and the older keys that still open.
type Keyring struct {
	keys []*Key // keys[0] seals
}

// NewKeyring returns a keyring that seals with current and also opens
// values sealed under any of old.
func NewKeyring(current *Key, old ...*Key) *Keyring {
	keys := []*Key{current}
	for _, k := range old {
		if k != nil && k.id != current.id && !slicesHasID(keys, k.id) {
			keys = append(keys, k)
		}
	}
	return &Keyring{keys: keys}
}

func slicesHasID(keys []*Key, id string) bool {
	for _, k := range keys {
		if k.id == id {
			return true
		}
	}
	return false
}

// ParseKeyring reads one key or several separated by commas or newlines
// (the form of HOOKGATE_SECRET_KEY and of the key file): the first seals,
// all of them open. Empty entries and lines starting with "#" are skipped.
func ParseKeyring(s string) (*Keyring, error) {
	var keys []*Key
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, entry := range strings.Split(line, ",") {
			if entry = strings.TrimSpace(entry); entry == "" {
				continue
			}
			k, err := ParseKey(entry)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", len(keys)+1, err)
			}
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no secret key given")
	}
	return NewKeyring(keys[0], keys[1:]...), nil
}

// Current is the key that seals.
func (r *Keyring) Current() *Key { return r.keys[0] }

// Keys returns every key, the sealing one first.
func (r *Keyring) Keys() []*Key { return append([]*Key(nil), r.keys...) }

// Seal encrypts plaintext under the current key with a random nonce. ad
// (associated data) binds the value to its place: Open with any other ad
// fails, so a sealed value copied into another row does not open there.
func (r *Keyring) Seal(plaintext, ad []byte) string {
	k := r.keys[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secrets: crypto/rand failed: " + err.Error()) // rand.Read does not fail on supported platforms
	}
	sealed := k.aead.Seal(nonce, nonce, plaintext, ad)
	return sealedPrefix + k.id + "." + base64.RawURLEncoding.EncodeToString(sealed)
}

// IsSealed reports whether s is a sealed value (of any key).
func IsSealed(s string) bool { return strings.HasPrefix(s, sealedPrefix) }

// SealedKeyID returns the id of the key that sealed s, or "" if s is not sealed.
func SealedKeyID(s string) string {
	rest, ok := strings.CutPrefix(s, sealedPrefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ".")
	return id
}

// Open decrypts a value Seal made with ad. It fails with ErrUnknownKey when
// none of the ring's keys sealed it, and with a plain error when the value
// was altered or belongs to another place (other ad). Errors never quote
// the value.
func (r *Keyring) Open(sealed string, ad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, errors.New("not a sealed value")
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, errors.New("malformed sealed value")
	}
	var k *Key
	for _, c := range r.keys {
		if c.id == id {
			k = c
			break
		}
	}
	if k == nil {
		return nil, fmt.Errorf("key %s: %w", id, ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, errors.New("malformed sealed value")
	}
	ns := k.aead.NonceSize()
	out, err := k.aead.Open(nil, raw[:ns], raw[ns:], ad)
	if err != nil {
		return nil, fmt.Errorf("sealed value does not open under key %s: altered, or moved from another row", id)
	}
	return out, nil
}

// FingerprintLen is the number of hex digits of a fingerprint.
const FingerprintLen = 12

// Fingerprint names a secret for people comparing two of them:
// HMAC-SHA256 under a key derived from the current master key, truncated to
// 12 hex digits. Without the master key (which is not in the database) a
// fingerprint cannot confirm a guessed secret. It changes when the key is
// rotated.
func (r *Keyring) Fingerprint(secret string) string {
	m := hmac.New(sha256.New, r.keys[0].fp)
	m.Write([]byte(secret))
	return "hmac:" + hex.EncodeToString(m.Sum(nil))[:FingerprintLen]
}

// Rotation is the outcome of a key rotation: the new key's id and how many
// stored values were re-sealed under it.
type Rotation struct {
	KeyID    string `json:"key_id"`
	Resealed int    `json:"resealed"`
}
