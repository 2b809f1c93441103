package verify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// svixScheme is Svix / Standard Webhooks (incident.io, Clerk, Resend, …).
//
// Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
// and https://docs.svix.com/receiving/verifying-payloads/how-manual.
//
//   - webhook-id, webhook-timestamp (unix seconds) and webhook-signature; Svix
//     itself sends the same values as svix-id, svix-timestamp, svix-signature.
//   - signed content: "{id}.{timestamp}.{body}", HMAC-SHA256, base64.
//   - webhook-signature is a space-separated list of "v1,<base64>" entries,
//     one per active secret on the sender side; every v1 entry is tried,
//     other versions (e.g. "v1a," asymmetric) and malformed entries skipped.
//   - the secret is "whsec_<base64>": the key is the base64-decoded part after
//     the prefix. A secret without the prefix is base64-decoded as a whole;
//     if that fails, its raw bytes are the key (some senders hand out plain
//     strings). A "whsec_" secret that does not decode fails at start-up.
//   - asymmetric signatures ("v1a,<base64>"): Ed25519 over the same signed
//     content, checked against a "whpk_<base64 of the 32-byte public key>"
//     given as a secret; a "whsk_<base64>" secret key (the 64-byte private
//     key, or its 32-byte seed) verifies with its public half and signs v1a
//     (hookgate send). A connection may hold whsec_ and whpk_ secrets at once.
type svixScheme struct{}

const (
	svixRecipe        = "HMAC-SHA256(base64decode(secret), id.timestamp.body) as base64"
	svixRecipeEd25519 = "Ed25519(whpk_ public key, id.timestamp.body) as base64 (v1a)"
)

var _ = scheme("svix", svixScheme{})

func (svixScheme) NeedsSecret() bool { return true }

func (svixScheme) Validate(cfg *Config) error {
	if err := requireSecretValues(cfg); err != nil {
		return err
	}
	for i, s := range cfg.Secrets {
		if _, asym, err := svixPublicKey(s.Value); asym {
			if err != nil {
				return fmt.Errorf("secret %s: %w", secretID(s, i), err)
			}
			continue
		}
		if _, err := svixKey(s.Value, nil); err != nil {
			return fmt.Errorf("secret %s: %w", secretID(s, i), err)
		}
	}
	return nil
}

// svixPublicKey reads an asymmetric secret: "whpk_" (a public key) or
// "whsk_" (a private key or its seed, whose public half verifies). asym is
// false for any other secret (an HMAC one).
func svixPublicKey(secret string) (pub ed25519.PublicKey, asym bool, err error) {
	if rest, ok := strings.CutPrefix(secret, "whpk_"); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return nil, true, errors.New(`"whpk_" key is not the base64 of a 32-byte Ed25519 public key`)
		}
		return ed25519.PublicKey(key), true, nil
	}
	if _, ok := strings.CutPrefix(secret, "whsk_"); ok {
		priv, err := svixPrivateKey(secret)
		if err != nil {
			return nil, true, err
		}
		return priv.Public().(ed25519.PublicKey), true, nil
	}
	return nil, false, nil
}

// svixPrivateKey reads a "whsk_" secret key: the base64 of a 64-byte Ed25519
// private key or of its 32-byte seed.
func svixPrivateKey(secret string) (ed25519.PrivateKey, error) {
	rest, _ := strings.CutPrefix(secret, "whsk_")
	key, err := base64.StdEncoding.DecodeString(rest)
	switch {
	case err == nil && len(key) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(key), nil
	case err == nil && len(key) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(key), nil
	}
	return nil, errors.New(`"whsk_" key is not the base64 of a 64-byte Ed25519 private key or its 32-byte seed`)
}

// svixContent is the signed content of v1a: "{id}.{timestamp}.{body}".
func svixContent(id, ts string, body []byte) []byte {
	b := make([]byte, 0, len(id)+len(ts)+2+len(body))
	b = append(b, id...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	return append(b, body...)
}

// svixKey decodes a secret into the HMAC key, appending to dst.
func svixKey(secret string, dst []byte) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.AppendDecode(dst, []byte(rest))
		if err != nil {
			return nil, errors.New(`"whsec_" secret is not valid base64`)
		}
		return key, nil
	}
	if key, err := base64.StdEncoding.AppendDecode(dst, []byte(secret)); err == nil {
		return key, nil
	}
	return append(dst[:0], secret...), nil
}

// headerEither returns the first of two header names present, and its value.
func headerEither(h http.Header, a, b string) (value, name string) {
	if v := h.Get(a); v != "" {
		return v, a
	}
	if v := h.Get(b); v != "" {
		return v, b
	}
	return "", a
}

// svixSignatures calls yield for each space-separated entry of a
// webhook-signature header with its version and value; ok is false for an
// entry without a comma. It stops when yield returns false.
func svixSignatures(header string, yield func(version, sig string, ok bool) bool) {
	for entry := range strings.FieldsSeq(header) {
		version, sig, ok := strings.Cut(entry, ",")
		if !yield(version, sig, ok) {
			return
		}
	}
}

func svixMAC(key []byte, id, ts string, body []byte, dst []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(dst[:0])
}

// decodeSvixSig decodes one v1 signature into dst without allocating.
func decodeSvixSig(dst []byte, sig string) ([]byte, bool) {
	if len(sig) != base64.StdEncoding.EncodedLen(sha256.Size) {
		return nil, false
	}
	var src [44]byte
	copy(src[:], sig)
	n, err := base64.StdEncoding.Decode(dst, src[:])
	if err != nil || n != sha256.Size {
		return nil, false
	}
	return dst[:n], true
}

func (svixScheme) Verify(cfg *Config, req *Request) (Result, error) {
	tr := Trace{Scheme: "svix", Recipe: svixRecipe}
	id, _ := headerEither(req.Header, "webhook-id", "svix-id")
	ts, _ := headerEither(req.Header, "webhook-timestamp", "svix-timestamp")
	sigHeader, sigName := headerEither(req.Header, "webhook-signature", "svix-signature")
	tr.Header = sigName
	switch {
	case sigHeader == "":
		return fail(ReasonSignatureMissing, tr)
	case id == "":
		tr.Note = "webhook-id header missing"
		return fail(ReasonSignatureMissing, tr)
	case ts == "":
		tr.Note = "webhook-timestamp header missing"
		return fail(ReasonTimestampMissing, tr)
	}

	// Decode every v1 entry once.
	var stack [4][48]byte
	decoded := make([][]byte, 0, len(stack))
	var asym [][]byte // v1a entries, decoded
	total, malformed, other := 0, 0, 0
	svixSignatures(sigHeader, func(version, sig string, ok bool) bool {
		total++
		if total == 1 {
			if ok {
				tr.Received = prefix8(sig)
			} else {
				tr.Received = prefix8(version)
			}
		}
		if !ok {
			malformed++
			return true
		}
		if version == "v1a" {
			d, err := base64.StdEncoding.DecodeString(sig)
			if err != nil || len(d) != ed25519.SignatureSize {
				malformed++
				return true
			}
			asym = append(asym, d)
			return true
		}
		if version != "v1" {
			other++
			return true
		}
		var dst []byte
		if len(decoded) < len(stack) {
			dst = stack[len(decoded)][:]
		} else {
			dst = make([]byte, 48)
		}
		d, valid := decodeSvixSig(dst, sig)
		if !valid {
			malformed++
			return true
		}
		decoded = append(decoded, d)
		return true
	})
	if malformed > 0 {
		tr.Note = joinNote(tr.Note, fmt.Sprintf("%d signatures, %d malformed skipped", total, malformed))
	}
	if other > 0 {
		tr.Note = joinNote(tr.Note, fmt.Sprintf("%d of another version skipped (v1 and v1a are checked)", other))
	}

	var keyBuf [64]byte
	var sumBuf [sha256.Size]byte
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets))
	matched := -1
	var content []byte // v1a's signed content, built once when needed
	for i, sec := range cfg.Secrets {
		tr.SecretsTried = append(tr.SecretsTried, secretID(sec, i))
		if pub, isAsym, err := svixPublicKey(sec.Value); isAsym {
			if err != nil || len(asym) == 0 {
				continue
			}
			if i == 0 {
				tr.Recipe = svixRecipeEd25519
			}
			if content == nil {
				content = svixContent(id, ts, req.Body)
			}
			for _, sig := range asym {
				if ed25519.Verify(pub, content, sig) {
					matched = i
					break
				}
			}
			if matched >= 0 {
				break
			}
			continue
		}
		key, err := svixKey(sec.Value, keyBuf[:0])
		if err != nil {
			continue // rejected by Validate; never matches
		}
		sum := svixMAC(key, id, ts, req.Body, sumBuf[:])
		if i == 0 {
			tr.Expected = base64.StdEncoding.EncodeToString(sum[:6])
		}
		for _, d := range decoded {
			if hmac.Equal(d, sum) {
				matched = i
				break
			}
		}
		if matched >= 0 {
			break
		}
	}
	if matched < 0 {
		if len(decoded) == 0 && len(asym) == 0 {
			return fail(ReasonSignatureMalformed, tr)
		}
		return fail(ReasonSignatureMismatch, tr)
	}
	t, reason := checkTimestamp(cfg, req, ts, &tr)
	if reason != "" {
		return fail(reason, tr)
	}
	return Result{SecretID: secretID(cfg.Secrets[matched], matched), Timestamp: t, Nonce: id, Trace: tr}, nil
}

// Sign sets webhook-id (kept when already present, else a random msg_ id),
// webhook-timestamp (req.Now) and webhook-signature: v1 (HMAC) with a
// whsec_ secret, v1a (Ed25519) with a whsk_ secret key.
func (svixScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errors.New("sign: empty secret")
	}
	if strings.HasPrefix(secret.Value, "whpk_") {
		return errors.New("sign: a whpk_ public key cannot sign; give the whsk_ secret key")
	}
	var priv ed25519.PrivateKey
	var key []byte
	var err error
	if strings.HasPrefix(secret.Value, "whsk_") {
		priv, err = svixPrivateKey(secret.Value)
	} else {
		key, err = svixKey(secret.Value, nil)
	}
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	id := req.Header.Get("webhook-id")
	if id == "" {
		var b [12]byte
		rand.Read(b[:])
		id = "msg_" + hex.EncodeToString(b[:])
	}
	ts := strconv.FormatInt(clock(req).Unix(), 10)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	if priv != nil {
		sig := ed25519.Sign(priv, svixContent(id, ts, req.Body))
		req.Header.Set("webhook-signature", "v1a,"+base64.StdEncoding.EncodeToString(sig))
		return nil
	}
	var sumBuf [sha256.Size]byte
	sum := svixMAC(key, id, ts, req.Body, sumBuf[:])
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(sum))
	return nil
}
