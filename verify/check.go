package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultReplayWindow bounds signed timestamps when a Config leaves
// ReplayWindow at zero. Five minutes is the tolerance Svix, Standard Webhooks
// and Stripe document.
const DefaultReplayWindow = 5 * time.Minute

// maxUnixSeconds rejects absurd timestamps (year ~36812) before any
// arithmetic on them can overflow.
const maxUnixSeconds = 1 << 40

// fail returns the *Failure every scheme reports.
func fail(reason string, tr Trace) (Result, error) {
	return Result{}, &Failure{Reason: reason, Trace: tr}
}

// prefix8 is what a Trace may show of a signature: never more than 8 characters.
func prefix8(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// secretID names secret i in traces and results; a secret without an ID is
// named by its 1-based position.
func secretID(s Secret, i int) string {
	if s.ID != "" {
		return s.ID
	}
	return "#" + strconv.Itoa(i+1)
}

// equalCredential compares a received credential with a configured one in
// constant time. Both sides are hashed first so that neither the content nor
// the length of the configured value leaks through timing.
func equalCredential(received, want string) bool {
	a := sha256.Sum256([]byte(received))
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// clock is the verifier's reading of now: the request's, else the wall clock
// (callers that need deterministic checks always set Request.Now).
func clock(req *Request) time.Time {
	if req.Now.IsZero() {
		return time.Now()
	}
	return req.Now
}

// checkTimestamp parses a signed unix-seconds timestamp and checks it against
// the replay window in both directions. It records the skew on tr and
// returns "" when the timestamp is acceptable, else a reason code. The age
// is measured from the clock's full reading, as providers' SDKs do (Paddle's
// rejects 5.5 s after a timestamp with a 5 s tolerance), not from whole
// seconds.
func checkTimestamp(cfg *Config, req *Request, raw string, tr *Trace) (time.Time, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, ReasonTimestampMissing
	}
	sec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || sec < 0 || sec > maxUnixSeconds {
		return time.Time{}, ReasonTimestampInvalid
	}
	t := time.Unix(sec, 0)
	return t, checkWindow(cfg, req, t, DefaultReplayWindow, tr)
}

// requireSecretValues fails closed on an empty secret: an empty HMAC key or
// token would let anyone forge a request.
func requireSecretValues(cfg *Config) error {
	for i, s := range cfg.Secrets {
		if s.Value == "" {
			return fmt.Errorf("secret %s is empty", secretID(s, i))
		}
	}
	return nil
}

var errNoHeader = errors.New("signature_header is required")

// joinNote appends a hint to a trace note.
func joinNote(note, add string) string {
	if note == "" {
		return add
	}
	return note + "; " + add
}

// scheme registers s and returns it. Scheme files call it from package-level
// variable declarations, which Go runs before every init function: presets,
// registered from init, then always find their scheme whatever the file
// names' order.
func scheme(name string, s Scheme) Scheme {
	registerScheme(name, s)
	return s
}
