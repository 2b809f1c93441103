package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// mac is the keyed digest of a provider scheme whose signed content is more
// than the body (timestamps, ids, URLs): the algorithm and the encoding of
// the signature on the wire. Provider schemes share it so that decoding,
// multi-signature matching, rotation and traces behave the same everywhere.
type mac struct {
	algo    string // "SHA1", "SHA256", "SHA512": for recipes
	newHash func() hash.Hash
	base64  bool
}

var (
	hmacSHA1   = mac{"SHA1", sha1.New, false}
	hmacSHA256 = mac{"SHA256", sha256.New, false}
	b64SHA1    = mac{"SHA1", sha1.New, true}
	b64SHA256  = mac{"SHA256", sha256.New, true}
)

// macByName resolves the generic scheme's algorithm and encoding settings.
func macByName(algorithm, encoding string) (mac, error) {
	var m mac
	switch strings.ToLower(algorithm) {
	case "sha1":
		m = mac{algo: "SHA1", newHash: sha1.New}
	case "", "sha256":
		m = mac{algo: "SHA256", newHash: sha256.New}
	case "sha512":
		m = mac{algo: "SHA512", newHash: sha512.New}
	default:
		return m, fmt.Errorf("algorithm %q: want sha1, sha256 or sha512", algorithm)
	}
	switch strings.ToLower(encoding) {
	case "", "hex":
	case "base64":
		m.base64 = true
	default:
		return m, fmt.Errorf("encoding %q: want hex or base64", encoding)
	}
	return m, nil
}

func (m mac) encodingName() string {
	if m.base64 {
		return "base64"
	}
	return "hex"
}

// sum is HMAC(key, parts...) without copying the parts together.
func (m mac) sum(key []byte, parts ...[]byte) []byte {
	h := hmac.New(m.newHash, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func (m mac) encode(sum []byte) string {
	if m.base64 {
		return base64.StdEncoding.EncodeToString(sum)
	}
	return hex.EncodeToString(sum)
}

// encodePrefix is what a trace may show of an expected signature.
func (m mac) encodePrefix(sum []byte) string { return prefix8(m.encode(sum)) }

// decode decodes one received signature; ok is false unless it is a
// well-formed digest of the algorithm's size. Hex is case-insensitive.
func (m mac) decode(sig string) ([]byte, bool) {
	size := m.newHash().Size()
	if m.base64 {
		if len(sig) != base64.StdEncoding.EncodedLen(size) {
			return nil, false
		}
		d, err := base64.StdEncoding.DecodeString(sig)
		return d, err == nil && len(d) == size
	}
	if len(sig) != 2*size {
		return nil, false
	}
	d, err := hex.DecodeString(sig)
	return d, err == nil && len(d) == size
}

// received is the decoded set of signatures a request carries.
type received struct {
	sigs           [][]byte
	total, skipped int
}

// collect decodes every candidate signature, skipping (and counting)
// malformed ones, and records the first on the trace. skipped counts entries
// a header parser already dropped as malformed.
func (m mac) collect(cands []string, skipped int, tr *Trace) received {
	r := received{total: len(cands) + skipped, skipped: skipped}
	for i, c := range cands {
		c = strings.TrimSpace(c)
		if i == 0 {
			tr.Received = prefix8(c)
		}
		d, ok := m.decode(c)
		if !ok {
			r.skipped++
			continue
		}
		r.sigs = append(r.sigs, d)
	}
	if r.skipped > 0 {
		tr.Note = joinNote(tr.Note, fmt.Sprintf("%d signatures, %d malformed skipped", r.total, r.skipped))
	}
	return r
}

// variant is one candidate signed content, as the pieces written in order.
type variant [][]byte

// match tries every secret against every variant and every received
// signature, in constant time per comparison. It records the secrets tried
// and the expected prefix (first secret, first variant) and returns the
// index of the matching secret, or -1 with the reason.
func (m mac) match(cfg *Config, r received, tr *Trace, key func(Secret) []byte, variants ...variant) (int, string) {
	if key == nil {
		key = func(s Secret) []byte { return []byte(s.Value) }
	}
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets))
	for i, sec := range cfg.Secrets {
		tr.SecretsTried = append(tr.SecretsTried, secretID(sec, i))
		if sec.Value == "" {
			continue // refused by Validate; an empty key must never match
		}
		k := key(sec)
		for j, v := range variants {
			sum := m.sum(k, v...)
			if i == 0 && j == 0 {
				tr.Expected = m.encodePrefix(sum)
			}
			for _, d := range r.sigs {
				if hmac.Equal(d, sum) {
					return i, ""
				}
			}
		}
	}
	if len(r.sigs) == 0 {
		return -1, ReasonSignatureMalformed
	}
	return -1, ReasonSignatureMismatch
}

// parseSignedList parses the "t=…,v1=…,v1=…" family of headers (Stripe,
// Mux, Calendly with sep ','; Paddle "ts=…;h1=…" with sep ';'): it returns
// the timestamp value (first one wins), every value of sigKey, and how many
// entries were malformed (no '=', empty value). Other keys (e.g. Stripe's
// v0 test-mode signatures) are ignored.
func parseSignedList(header string, sep byte, tsKey, sigKey string) (ts string, sigs []string, malformed int) {
	for part := range strings.SplitSeq(header, string(sep)) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" {
			malformed++
			continue
		}
		switch k {
		case tsKey:
			if ts == "" {
				ts = v
			}
		case sigKey:
			sigs = append(sigs, v)
		}
	}
	return ts, sigs, malformed
}

// checkWindow checks a signed time against the replay window (cfg's, else
// def) in both directions and records the skew on tr. A time exactly one
// window away is accepted (Stripe, Paddle, Slack, Svix, Linear).
func checkWindow(cfg *Config, req *Request, t time.Time, def time.Duration, tr *Trace) string {
	return windowCheck(cfg, req, t, def, false, tr)
}

// checkWindowUnder is checkWindow for providers whose SDKs require the age
// to be under the window: a time exactly one window away is refused
// (HubSpot: now - timestamp < 300 s).
func checkWindowUnder(cfg *Config, req *Request, t time.Time, def time.Duration, tr *Trace) string {
	return windowCheck(cfg, req, t, def, true, tr)
}

func windowCheck(cfg *Config, req *Request, t time.Time, def time.Duration, under bool, tr *Trace) string {
	window := cfg.ReplayWindow
	if window <= 0 {
		window = def
	}
	d := clock(req).Sub(t)
	skew := int64(d / time.Second)
	tr.TimestampSkewSeconds = &skew
	switch {
	case d > window, under && d == window:
		return ReasonTimestampStale
	case -d > window, under && -d == window:
		return ReasonTimestampFuture
	}
	return ""
}

// parseUnixMillis parses a millisecond timestamp (HubSpot).
func parseUnixMillis(raw string) (time.Time, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, ReasonTimestampMissing
	}
	ms, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || ms < 0 || ms > maxUnixSeconds*1000 {
		return time.Time{}, ReasonTimestampInvalid
	}
	return time.UnixMilli(ms), ""
}

// parseUnixSeconds parses a seconds timestamp.
func parseUnixSeconds(raw string) (time.Time, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, ReasonTimestampMissing
	}
	sec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || sec < 0 || sec > maxUnixSeconds {
		return time.Time{}, ReasonTimestampInvalid
	}
	return time.Unix(sec, 0), ""
}

// parseRFC3339 parses an RFC 3339 timestamp with optional fractional
// seconds (Twitch sends nanoseconds, Zendesk whole seconds).
func parseRFC3339(raw string) (time.Time, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, ReasonTimestampMissing
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, ReasonTimestampInvalid
	}
	return t, ""
}

// headerOr is cfg's header when set, else the provider's.
func headerOr(configured, def string) string {
	if configured != "" {
		return configured
	}
	return def
}

// setHeader writes one header, creating the map when needed.
func setHeader(req *Request, name, value string) {
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set(name, value)
}

var errEmptySecret = errors.New("sign: empty secret")

// needURL fails a request without the public URL a URL-signing scheme needs.
func needURL(req *Request, tr *Trace) bool {
	if req.URL == nil || req.URL.Host == "" {
		tr.Note = joinNote(tr.Note, "no public URL to sign: set public_url or public_base_url")
		return false
	}
	return true
}

// done builds the Result of a match.
func done(cfg *Config, i int, tr Trace) Result {
	return Result{SecretID: secretID(cfg.Secrets[i], i), Trace: tr}
}

var errNoURL = errors.New("sign: the request has no URL to sign")
