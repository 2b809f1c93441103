package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// hmacScheme is HMAC of the raw body in one header: auth types sha1, sha256,
// sha256_raw and sha256_base64 are instances differing only in algorithm,
// encoding and prefix.
//
// When cfg.SignatureHeader ends in "-1" the header is a numbered family
// (DocuSign sends X-DocuSign-Signature-1, -2, … one per active Connect key)
// and every numbered header present is tried.
//
// When cfg.TimestampHeader is set the request must also carry that header
// (unix seconds) inside the replay window. The body signature does not cover
// it; it is checked after the signature, as SPEC §2 orders 401 before 409.
//
// When cfg.TimestampField is set (Linear: webhookTimestamp) and the verified
// body carries that top-level field, it is a unix-milliseconds timestamp
// checked against the replay window. The body is signed, so the field cannot
// be removed from a captured delivery; a body without it is not checked, as
// Linear's SDK does.
type hmacScheme struct {
	name    string
	algo    string // "SHA1", "SHA256": for recipes
	newHash func() hash.Hash
	size    int
	base64  bool
	// prefix is optional on receipt and written by Sign ("sha256=").
	prefix string
	// foreignPrefix is a prefix this type does not use but senders
	// misconfigured as another type do; it only adds a hint to the trace.
	foreignPrefix string
	recipe        string
	// defaultHeader is read when cfg.SignatureHeader is empty (provider
	// instances such as typeform); the generic types have none.
	defaultHeader string
}

func newHMACScheme(name, algo string, newHash func() hash.Hash, b64 bool, prefix, foreign string) *hmacScheme {
	s := &hmacScheme{name: name, algo: algo, newHash: newHash, size: newHash().Size(), base64: b64, prefix: prefix, foreignPrefix: foreign}
	enc := "hex"
	if b64 {
		enc = "base64"
	}
	s.recipe = fmt.Sprintf("HMAC-%s(secret, body) as %s", algo, enc)
	if prefix != "" {
		s.recipe += ", prefix " + prefix
	}
	return s
}

var (
	// Intercom: X-Hub-Signature: sha1=<hex>.
	_ = scheme("sha1", newHMACScheme("sha1", "SHA1", sha1.New, false, "sha1=", ""))
	// GitHub: X-Hub-Signature-256: sha256=<hex>.
	_ = scheme("sha256", newHMACScheme("sha256", "SHA256", sha256.New, false, "sha256=", ""))
	// Linear: Linear-Signature: <hex>.
	_ = scheme("sha256_raw", newHMACScheme("sha256_raw", "SHA256", sha256.New, false, "", "sha256="))
	// Shopify, DocuSign: <base64>.
	_ = scheme("sha256_base64", newHMACScheme("sha256_base64", "SHA256", sha256.New, true, "", "sha256="))
	// Typeform: Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>.
	// https://www.typeform.com/developers/webhooks/secure-your-webhooks/
	_ = scheme("typeform", withDefaultHeader(newHMACScheme("typeform", "SHA256", sha256.New, true, "sha256=", ""), "Typeform-Signature"))
)

func init() {
	registerPreset(Preset{
		// Typeform-Signature: sha256=<base64>, keyed with the secret set on
		// the webhook. Bodies carry "event_id" and "event_type"
		// (form_response); there is no signed timestamp.
		Type: "typeform", Auth: "typeform",
		SignatureHeader: "Typeform-Signature",
		NonceBody:       "event_id",
		EventType:       "body:event_type",
		Doc:             "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
	})
}

func withDefaultHeader(s *hmacScheme, header string) *hmacScheme {
	s.defaultHeader = header
	return s
}

func (s *hmacScheme) NeedsSecret() bool { return true }

func (s *hmacScheme) Validate(cfg *Config) error {
	if cfg.SignatureHeader == "" && s.defaultHeader == "" {
		return errNoHeader
	}
	return requireSecretValues(cfg)
}

// maxEncoded bounds a received signature; longer values cannot be a digest of
// this package's algorithms and are malformed. Received values are copied
// into a stack buffer of this size before decoding, so decoding does not
// allocate.
const maxEncoded = 128

// decode decodes one received signature into dst, reporting whether it is a
// well-formed digest of the scheme's size.
func (s *hmacScheme) decode(dst []byte, sig string) ([]byte, bool) {
	if len(sig) > maxEncoded {
		return nil, false
	}
	var src [maxEncoded]byte
	n := copy(src[:], sig)
	if s.base64 {
		if n != base64.StdEncoding.EncodedLen(s.size) {
			return nil, false
		}
		m, err := base64.StdEncoding.Decode(dst, src[:n])
		if err != nil || m != s.size {
			return nil, false
		}
		return dst[:m], true
	}
	if n != 2*s.size {
		return nil, false
	}
	m, err := hex.Decode(dst, src[:n])
	if err != nil || m != s.size {
		return nil, false
	}
	return dst[:m], true
}

// encodePrefix is the first 8 characters of the encoded digest: 4 bytes in
// hex, 6 bytes in base64 (6 bytes are exactly 8 base64 characters).
func (s *hmacScheme) encodePrefix(sum []byte) string {
	if s.base64 {
		return base64.StdEncoding.EncodeToString(sum[:6])
	}
	return hex.EncodeToString(sum[:4])
}

func (s *hmacScheme) encode(sum []byte) string {
	if s.base64 {
		return base64.StdEncoding.EncodeToString(sum)
	}
	return hex.EncodeToString(sum)
}

// received lists the signatures to try and the header name(s) read.
func (s *hmacScheme) received(cfg *Config, h http.Header) ([]string, string) {
	name := headerOr(cfg.SignatureHeader, s.defaultHeader)
	if !strings.HasSuffix(name, "-1") {
		return h.Values(name), name
	}
	// Numbered family: every header base+N, in N order.
	base := textproto.CanonicalMIMEHeaderKey(name[:len(name)-1])
	type numbered struct {
		n    int
		name string
	}
	var found []numbered
	for k := range h {
		if len(k) <= len(base) || !strings.EqualFold(k[:len(base)], base) {
			continue
		}
		n, err := strconv.Atoi(k[len(base):])
		if err != nil || n < 1 {
			continue
		}
		found = append(found, numbered{n, k})
	}
	if len(found) == 0 {
		return nil, name
	}
	sort.Slice(found, func(i, j int) bool { return found[i].n < found[j].n })
	var sigs []string
	names := make([]string, 0, len(found))
	for _, f := range found {
		sigs = append(sigs, h[f.name]...)
		names = append(names, f.name)
	}
	return sigs, strings.Join(names, ", ")
}

func (s *hmacScheme) mac(key string, body []byte, dst []byte) []byte {
	m := hmac.New(s.newHash, []byte(key))
	m.Write(body)
	return m.Sum(dst[:0])
}

func (s *hmacScheme) Verify(cfg *Config, req *Request) (Result, error) {
	sigs, header := s.received(cfg, req.Header)
	tr := Trace{Scheme: s.name, Header: header, Recipe: s.recipe}
	if len(sigs) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}

	// Decode every received signature once; malformed ones are skipped.
	var stack [4][64]byte
	decoded := make([][]byte, 0, len(stack))
	malformed, prefixed := 0, 0
	for i, sig := range sigs {
		sig = strings.TrimSpace(sig)
		if s.prefix != "" {
			var ok bool
			if sig, ok = strings.CutPrefix(sig, s.prefix); ok {
				prefixed++
			}
		} else if s.foreignPrefix != "" && strings.HasPrefix(sig, s.foreignPrefix) {
			tr.Note = joinNote(tr.Note, "prefix "+s.foreignPrefix+" present on a "+s.name+" connection")
		}
		if i == 0 {
			tr.Received = prefix8(sig)
		}
		var dst []byte
		if len(decoded) < len(stack) {
			dst = stack[len(decoded)][:]
		} else {
			dst = make([]byte, 64)
		}
		d, ok := s.decode(dst, sig)
		if !ok {
			malformed++
			continue
		}
		decoded = append(decoded, d)
	}
	if s.prefix != "" && prefixed < len(sigs) {
		tr.Note = joinNote(tr.Note, "prefix "+s.prefix+" missing (accepted)")
	}
	if malformed > 0 {
		tr.Note = joinNote(tr.Note, fmt.Sprintf("%d signatures, %d malformed skipped", len(sigs), malformed))
	}

	var buf [64]byte
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets))
	matched := -1
	for i, sec := range cfg.Secrets {
		tr.SecretsTried = append(tr.SecretsTried, secretID(sec, i))
		sum := s.mac(sec.Value, req.Body, buf[:])
		if i == 0 {
			tr.Expected = s.encodePrefix(sum)
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
		if len(decoded) == 0 {
			return fail(ReasonSignatureMalformed, tr)
		}
		return fail(ReasonSignatureMismatch, tr)
	}
	res := Result{SecretID: secretID(cfg.Secrets[matched], matched)}
	if cfg.TimestampHeader != "" {
		ts, reason := checkTimestamp(cfg, req, req.Header.Get(cfg.TimestampHeader), &tr)
		if reason != "" {
			return fail(reason, tr)
		}
		res.Timestamp = ts
	}
	if cfg.TimestampField != "" {
		ts, reason := bodyMillis(cfg, req, &tr)
		if reason != "" {
			return fail(reason, tr)
		}
		if !ts.IsZero() {
			res.Timestamp = ts
		}
	}
	res.Trace = tr
	return res, nil
}

// bodyMillis checks the verified body's cfg.TimestampField (unix
// milliseconds) against the replay window. A body without the field passes
// with a zero time; a field that is not a whole number is invalid.
func bodyMillis(cfg *Config, req *Request, tr *Trace) (time.Time, string) {
	v := gjson.GetBytes(req.Body, cfg.TimestampField)
	if !v.Exists() {
		return time.Time{}, ""
	}
	if v.Type != gjson.Number {
		tr.Note = joinNote(tr.Note, "body "+cfg.TimestampField+" is not a number")
		return time.Time{}, ReasonTimestampInvalid
	}
	t, reason := parseUnixMillis(v.Raw)
	if reason != "" {
		tr.Note = joinNote(tr.Note, "body "+cfg.TimestampField+" is not unix milliseconds")
		return time.Time{}, reason
	}
	return t, checkWindow(cfg, req, t, DefaultReplayWindow, tr)
}

func (s *hmacScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errors.New("sign: empty secret")
	}
	name := headerOr(cfg.SignatureHeader, s.defaultHeader)
	if name == "" {
		return errNoHeader
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	var buf [64]byte
	req.Header.Set(name, s.prefix+s.encode(s.mac(secret.Value, req.Body, buf[:])))
	if cfg.TimestampHeader != "" {
		req.Header.Set(cfg.TimestampHeader, strconv.FormatInt(clock(req).Unix(), 10))
	}
	return nil
}
