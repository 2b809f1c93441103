package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// ed25519Scheme is an Ed25519 signature over the timestamp header's value
// followed by the raw body, with no separator: Discord's interactions and
// webhook events.
//
//   - X-Signature-Ed25519 is the signature in hex (64 bytes, 128 characters);
//     X-Signature-Timestamp is unix seconds. cfg.SignatureHeader and
//     cfg.TimestampHeader rename them for other senders.
//   - The secrets are public keys in hex (32 bytes, 64 characters): Discord's
//     "Public Key" on the application's General Information page. Several may
//     be active (rotation, or moving a connection to another application);
//     every key is tried and the Result names the one that verified.
//   - Discord sets no tolerance on the timestamp; hookgate checks it against
//     the replay window in both directions, after the signature (SPEC §2: a
//     forged request is a 401 whatever its timestamp).
//
// https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers
// https://discord.com/developers/docs/events/webhook-events#preparing-for-events
//
// Signing needs a private key, which Discord never hands out. A secret may
// therefore also be a private key, in hex, in the 64-byte form Go and
// libsodium use (the 32-byte seed followed by the public key): its public
// half verifies and Sign signs with it, so that `hookgate send` and tests can
// produce what Discord would. A bare 32-byte value is always a public key
// (a seed has the same length, so it cannot be told apart), and Sign with a
// public key returns errPublicKeyOnly. Validate checks a private key's two
// halves agree and that a public key is a point of the curve, so a
// mistyped key fails at start-up instead of rejecting every delivery.
type ed25519Scheme struct{}

const (
	discordSignature = "X-Signature-Ed25519"
	discordTimestamp = "X-Signature-Timestamp"
	ed25519Recipe    = "Ed25519(public key, timestamp+body), signature hex"
	// maxPublicKeySignatures bounds the signature values tried per request:
	// each costs one signature verification per key, and senders send one.
	maxPublicKeySignatures = 4
)

var ed25519Verifier = scheme("ed25519", ed25519Scheme{})

var errPublicKeyOnly = errors.New("sign: the secret is a public key; signing needs the private key")

func (ed25519Scheme) NeedsSecret() bool { return true }

func (ed25519Scheme) Validate(cfg *Config) error {
	if err := requireSecretValues(cfg); err != nil {
		return err
	}
	for i, s := range cfg.Secrets {
		k, err := parseEd25519Secret(s.Value)
		if err == nil && k.private == nil && !ed25519OnCurve(k.public) {
			err = errors.New("not an Ed25519 public key (the value is not a point of the curve)")
		}
		if err != nil {
			return fmt.Errorf("secret %s: %w", secretID(s, i), err)
		}
	}
	return nil
}

// ed25519Key is a parsed secret: always a public key, and the private key
// when the secret carries one.
type ed25519Key struct {
	public  ed25519.PublicKey
	private ed25519.PrivateKey
}

// parseEd25519Secret decodes a hex public key (32 bytes) or a hex private
// key (64 bytes: seed then public key, whose halves must agree). Errors never
// quote the value.
func parseEd25519Secret(value string) (ed25519Key, error) {
	s := strings.TrimSpace(value)
	if len(s) != 2*ed25519.PublicKeySize && len(s) != 2*ed25519.PrivateKeySize {
		return ed25519Key{}, fmt.Errorf("want a hex Ed25519 public key (%d characters), got %d characters", 2*ed25519.PublicKeySize, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return ed25519Key{}, errors.New("an Ed25519 key must be hex")
	}
	if len(b) == ed25519.PublicKeySize {
		return ed25519Key{public: ed25519.PublicKey(b)}, nil
	}
	priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	pub := priv.Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, b[ed25519.SeedSize:]) {
		return ed25519Key{}, errors.New("Ed25519 private key: its public half does not match its seed")
	}
	return ed25519Key{public: pub, private: priv}, nil
}

// Curve constants of edwards25519 (RFC 8032 §5.1).
var (
	ed25519P = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	ed25519D = func() *big.Int {
		// d = -121665 / 121666 mod p
		inv := new(big.Int).ModInverse(big.NewInt(121666), ed25519P)
		d := new(big.Int).Mul(big.NewInt(-121665), inv)
		return d.Mod(d, ed25519P)
	}()
)

// ed25519OnCurve reports whether a 32-byte encoding decodes to a point, by
// RFC 8032 §5.1.3: y (the low 255 bits, little-endian) must be below p, and
// x² = (y²-1)/(d·y²+1) must have a square root, which must not be 0 when
// the sign bit is set. Only Validate calls it (math/big is slow, and a key
// that fails here can never verify anything anyway).
func ed25519OnCurve(enc []byte) bool {
	if len(enc) != ed25519.PublicKeySize {
		return false
	}
	be := make([]byte, len(enc))
	for i, c := range enc {
		be[len(enc)-1-i] = c
	}
	sign := be[0] >> 7
	be[0] &= 0x7f
	p := ed25519P
	y := new(big.Int).SetBytes(be)
	if y.Cmp(p) >= 0 {
		return false
	}
	yy := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(yy, big.NewInt(1))
	u.Mod(u, p)
	v := new(big.Int).Mul(ed25519D, yy)
	v.Add(v, big.NewInt(1))
	v.Mod(v, p)
	// x² = u·v⁻¹; v is never 0 because d is not a square.
	xx := new(big.Int).Mul(u, new(big.Int).ModInverse(v, p))
	xx.Mod(xx, p)
	if xx.Sign() == 0 {
		return sign == 0
	}
	// Euler's criterion: xx is a square iff xx^((p-1)/2) = 1.
	e := new(big.Int).Rsh(new(big.Int).Sub(p, big.NewInt(1)), 1)
	return new(big.Int).Exp(xx, e, p).Cmp(big.NewInt(1)) == 0
}

// publicKeySignatures reads up to maxPublicKeySignatures values of a
// signature header and decodes each with decode, skipping (and counting)
// malformed ones; the first is recorded on the trace.
func publicKeySignatures(h http.Header, name string, tr *Trace, decode func(string) ([]byte, bool)) (sigs [][]byte, total int) {
	vals := h.Values(name)
	total = len(vals)
	if len(vals) > maxPublicKeySignatures {
		tr.Note = joinNote(tr.Note, fmt.Sprintf("%d signatures, only the first %d tried", len(vals), maxPublicKeySignatures))
		vals = vals[:maxPublicKeySignatures]
	}
	malformed := 0
	for i, v := range vals {
		v = strings.TrimSpace(v)
		if i == 0 {
			tr.Received = prefix8(v)
		}
		d, ok := decode(v)
		if !ok {
			malformed++
			continue
		}
		sigs = append(sigs, d)
	}
	if malformed > 0 {
		tr.Note = joinNote(tr.Note, fmt.Sprintf("%d signatures, %d malformed skipped", len(vals), malformed))
	}
	return sigs, total
}

func decodeEd25519Sig(s string) ([]byte, bool) {
	if len(s) != 2*ed25519.SignatureSize {
		return nil, false
	}
	d, err := hex.DecodeString(s)
	return d, err == nil && len(d) == ed25519.SignatureSize
}

func (ed25519Scheme) Verify(cfg *Config, req *Request) (Result, error) {
	sigName := headerOr(cfg.SignatureHeader, discordSignature)
	tr := Trace{Scheme: "ed25519", Header: sigName, Recipe: ed25519Recipe}
	return verifyPublicKey(cfg, req, tr, headerOr(cfg.TimestampHeader, discordTimestamp), decodeEd25519Sig,
		func(ts string) func(secret string, sig []byte) bool {
			msg := make([]byte, 0, len(ts)+len(req.Body))
			msg = append(append(msg, ts...), req.Body...)
			return func(secret string, sig []byte) bool {
				k, err := parseEd25519Secret(secret)
				return err == nil && ed25519.Verify(k.public, msg, sig)
			}
		})
}

// Sign sets the timestamp (req.Now) and the signature, as Discord would. The
// secret must be a private key (see ed25519Scheme).
func (ed25519Scheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	k, err := parseEd25519Secret(secret.Value)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if k.private == nil {
		return errPublicKeyOnly
	}
	ts := strconv.FormatInt(clock(req).Unix(), 10)
	msg := append([]byte(ts), req.Body...)
	setHeader(req, headerOr(cfg.SignatureHeader, discordSignature), hex.EncodeToString(ed25519.Sign(k.private, msg)))
	setHeader(req, headerOr(cfg.TimestampHeader, discordTimestamp), ts)
	return nil
}

// discordHandshake answers Discord's endpoint checks, after the signature
// verifies (Discord also sends deliberately bad signatures and removes an
// endpoint that does not answer them 401):
//
//   - Interactions endpoint: a PING interaction, body type 1 (and no
//     "event"), is answered 200 {"type":1} (PONG).
//     https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-acknowledging-ping-requests
//   - Webhook events endpoint: a PING, outer type 0, is answered 204 with an
//     empty body. (Type 1 there is an event, recognised by its "event"
//     object, and is a normal delivery.)
//     https://discord.com/developers/docs/events/webhook-events#preparing-for-events
//
// Discord asks for a valid Content-Type on both answers. Ingress asks only
// about requests that verified (HandshakeAfterAuth), so an unsigned body is
// never inspected; the signature is checked here again, for a PING only,
// so that nothing is answered before it verifies whoever the caller is.
func discordHandshake(cfg *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodPost {
		return nil, false, nil
	}
	ping, ok := discordPing(req.Body)
	if !ok {
		return nil, false, nil
	}
	if _, err := ed25519Verifier.Verify(cfg, req); err != nil {
		return nil, true, err
	}
	if ping == discordInteractionPing {
		return jsonResponse(map[string]int{"type": 1}), true, nil
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return &HandshakeResponse{Status: http.StatusNoContent, Header: h}, true, nil
}

type discordPingKind int

const (
	discordInteractionPing discordPingKind = iota + 1
	discordEventPing
)

// discordPing reports whether body is one of Discord's PINGs. It is asked
// only about verified bodies (Preset.HandshakeAfterAuth), with bounded
// lookups rather than a decode.
func discordPing(body []byte) (discordPingKind, bool) {
	if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		return 0, false
	}
	switch gjson.GetBytes(body, "type").Raw {
	case "1":
		if !gjson.GetBytes(body, "event").Exists() {
			return discordInteractionPing, true
		}
	case "0":
		return discordEventPing, true
	}
	return 0, false
}

func init() {
	registerPreset(Preset{
		// Interactions carry a snowflake "id"; webhook events have none
		// (checksum dedupe). The event type is the interaction type (2
		// application command, 3 component, …), or for webhook events
		// "1.<event type>" (e.g. 1.APPLICATION_AUTHORIZED).
		Type: "discord", Auth: "ed25519",
		SignatureHeader:    discordSignature,
		TimestampHeader:    discordTimestamp,
		NonceBody:          "id",
		EventType:          "body:type+body:event.type",
		Handshake:          discordHandshake,
		HandshakeMethods:   []string{http.MethodPost},
		HandshakeAfterAuth: true,
		Doc:                "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint",
	})
}

// verifyPublicKey is Verify of the schemes that sign timestamp + body with a
// private key and are checked with the configured public keys (Discord
// ed25519, SendGrid ecdsa): tr names the signature header; tsName is the
// timestamp header; decode parses one received signature; signed builds,
// once per request, the check of one signature against one key for the
// request's timestamp. The signature is checked before the timestamp, so a
// forgery is always a 401.
func verifyPublicKey(cfg *Config, req *Request, tr Trace, tsName string, decode func(string) ([]byte, bool),
	signed func(ts string) func(secret string, sig []byte) bool) (Result, error) {
	if strings.TrimSpace(req.Header.Get(tr.Header)) == "" {
		return fail(ReasonSignatureMissing, tr)
	}
	ts := req.Header.Get(tsName)
	if ts == "" {
		tr.Note = tsName + " header missing"
		return fail(ReasonTimestampMissing, tr)
	}
	sigs, _ := publicKeySignatures(req.Header, tr.Header, &tr, decode)
	matched, reason := matchPublicKey(cfg, sigs, &tr, signed(ts))
	if matched < 0 {
		return fail(reason, tr)
	}
	t, reason := checkTimestamp(cfg, req, ts, &tr)
	if reason != "" {
		return fail(reason, tr)
	}
	res := done(cfg, matched, tr)
	res.Timestamp = t
	return res, nil
}

// matchPublicKey tries every configured key against every received
// signature (rotation: several keys may be active) and returns the index of
// the key that verified, or -1 with the reason. A key that does not parse
// was refused by Validate and never matches.
func matchPublicKey(cfg *Config, sigs [][]byte, tr *Trace, verifies func(secret string, sig []byte) bool) (int, string) {
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets))
	for i, sec := range cfg.Secrets {
		tr.SecretsTried = append(tr.SecretsTried, secretID(sec, i))
		for _, sig := range sigs {
			if verifies(sec.Value, sig) {
				return i, ""
			}
		}
	}
	if len(sigs) == 0 {
		return -1, ReasonSignatureMalformed
	}
	return -1, ReasonSignatureMismatch
}
