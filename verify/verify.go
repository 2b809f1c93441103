// Package verify authenticates webhook deliveries with each provider's own
// scheme. One file per auth type or provider scheme registers itself with
// registerScheme and, for providers, registerPreset; nothing else needs to
// change to add one.
//
// Verifiers work on the raw request bytes only: no body is parsed before its
// signature is verified, and all comparisons are constant-time.
package verify

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/hookgate/hookgate"
)

// Reason codes recorded on rejected receipts.
const (
	ReasonSignatureMissing   = "signature_missing"
	ReasonSignatureMismatch  = "signature_mismatch"
	ReasonSignatureMalformed = "signature_malformed"
	ReasonTimestampMissing   = "timestamp_missing"
	ReasonTimestampStale     = "timestamp_stale"
	ReasonTimestampFuture    = "timestamp_future"
	ReasonTimestampInvalid   = "timestamp_invalid"
	ReasonCredentialsMissing = "credentials_missing"
	ReasonCredentialsInvalid = "credentials_invalid"
)

// Secret is one active signing secret. ID names it in traces and receipts;
// the value never leaves this package's callers' memory.
type Secret struct {
	ID    string
	Value string
}

// Request is the part of an HTTP request a scheme may read or, when signing,
// write (Header only).
type Request struct {
	Method string
	// URL is the URL as the provider called it (public URL), for schemes
	// that sign it.
	URL    *url.URL
	Header http.Header
	Body   []byte
	// Now is the verifier's clock reading, for timestamp checks and signing.
	Now time.Time
}

// Config is one connection's resolved authentication settings (preset
// defaults already applied).
type Config struct {
	Auth            string
	Secrets         []Secret
	Basic           *hookgate.BasicAuth
	APIKey          *hookgate.APIKey
	SignatureHeader string
	TimestampHeader string
	// ReplayWindow bounds the age (and the future skew) of signed timestamps.
	ReplayWindow time.Duration
	// TimestampField names a top-level field of the JSON body that holds
	// the signed timestamp in unix milliseconds (Linear's webhookTimestamp).
	// The HMAC body schemes check it against ReplayWindow after the
	// signature verified, when the body carries it: the body is signed, so
	// a captured delivery cannot drop it.
	TimestampField string
	// AllowUnauthenticated must be true for Auth "none".
	AllowUnauthenticated bool

	// Algorithm, Encoding, Prefix and Template configure auth "hmac" (the
	// generic scheme): Algorithm is sha1, sha256 (default) or sha512;
	// Encoding hex (default) or base64; Prefix is stripped from received
	// signatures and written by Sign (e.g. "sha256="); Template is the
	// signed content, with placeholders {body}, {timestamp} (the value of
	// TimestampHeader), {method}, {url} and {header:Name} (default "{body}").
	Algorithm string
	Encoding  string
	Prefix    string
	Template  string
	// VerifyToken is the token a provider echoes in a subscription
	// handshake (Meta hub.verify_token). Empty: any of Secrets.
	VerifyToken string
}

// Result is a successful verification.
type Result struct {
	// SecretID is the secret that verified the request ("" for none).
	SecretID string
	// Timestamp is the signed timestamp, zero when the scheme has none.
	Timestamp time.Time
	// Nonce is the replay token carried inside the signed content (Mailgun
	// token, Twitch message id, Svix webhook-id), for the idempotency key;
	// "" when the scheme signs none.
	Nonce string
	Trace Trace
}

// Trace explains a verification, for rejected receipts and `hookgate verify`.
// It never contains a secret or a whole expected signature.
type Trace struct {
	Scheme string `json:"scheme"`
	// Header is the header(s) read for the signature or credential.
	Header string `json:"header,omitempty"`
	// SecretsTried lists secret ids in the order tried.
	SecretsTried []string `json:"secrets_tried,omitempty"`
	// Recipe describes the signed content, e.g. "HMAC-SHA256(secret, body) as hex".
	Recipe string `json:"recipe,omitempty"`
	// TimestampSkewSeconds is now minus the signed timestamp.
	TimestampSkewSeconds *int64 `json:"timestamp_skew_seconds,omitempty"`
	// Expected and Received are the first 8 characters of the expected
	// signature (of the first secret) and of the first received one.
	Expected string `json:"expected_prefix,omitempty"`
	Received string `json:"received_prefix,omitempty"`
	// Note is a human hint ("prefix sha256= missing", "3 signatures, 1 malformed").
	Note string `json:"note,omitempty"`
}

// Failure is a verification that did not pass. Status is 401 for
// authentication failures and 409 for timestamp (replay) failures.
type Failure struct {
	Reason string
	Trace  Trace
}

func (f *Failure) Error() string { return "verification failed: " + f.Reason }

// Status is the HTTP status of SPEC §2 for this failure.
func (f *Failure) Status() int {
	switch f.Reason {
	case ReasonTimestampStale, ReasonTimestampFuture:
		return http.StatusConflict
	}
	return http.StatusUnauthorized
}

// Scheme is one auth type.
type Scheme interface {
	// Verify checks req against cfg. It returns a *Failure when the request
	// does not verify; any other error is a bug.
	Verify(cfg *Config, req *Request) (Result, error)
	// Sign sets on req.Header what the provider would send, signed with
	// secret (for basic/api_key/secret schemes: the credential), using
	// req.Now for timestamps. It is the inverse of Verify. Schemes whose
	// credential travels in the body (mailgun, client_state) rewrite
	// req.Body; twilio adds bodySHA256 to a copy of req.URL for JSON bodies.
	// Public-key schemes (ed25519, ecdsa) sign only when the secret is a
	// private key (tests, `hookgate send`); with a public key they return
	// an error.
	Sign(cfg *Config, req *Request, secret Secret) error
	// NeedsSecret reports whether cfg.Secrets must be non-empty.
	NeedsSecret() bool
}

// Preset holds a provider's defaults. Empty fields mean "not applicable".
type Preset struct {
	Type            string
	Auth            string
	SignatureHeader string
	TimestampHeader string
	// TimestampField is Config.TimestampField: a signed body field holding
	// the timestamp (Linear).
	TimestampField string
	// ReplayWindow is the tolerance the provider documents or its official
	// SDK enforces (Paddle 5 s, Linear 60 s, …); zero means the provider
	// documents none and the server's webhooks.replay_window_seconds
	// applies. A connection's own replay_window_seconds wins over both.
	ReplayWindow time.Duration
	// NonceHeader names the delivery id header (several joined by "+" when
	// only their combination is unique); NonceBody a top-level JSON field
	// (e.g. Stripe "id") used when the header is absent.
	NonceHeader string
	NonceBody   string
	// EventType: "header:X-GitHub-Event", "body:type", joined by "+".
	EventType string
	// EmptyBody says the provider may send no body at all (Google Calendar
	// push notifications); an empty body then passes the envelope check.
	EmptyBody bool
	// ArrayBody says the provider posts a JSON array of event objects in one
	// request (SendGrid's event webhook): the envelope check accepts a
	// non-empty array of objects, and the event type is read from its first
	// element.
	ArrayBody bool
	// Form says the provider posts form-encoded bodies (Twilio, Slack
	// commands and interactivity, Mailgun's form webhooks): their fields
	// are the envelope. Elsewhere a form body is refused (SPEC §4.4).
	Form bool
	// FormPayload names the form field that carries the JSON event when
	// the provider can post its JSON inside a form (GitHub's
	// application/x-www-form-urlencoded content type: payload=…); that
	// JSON is then the envelope.
	FormPayload string
	// Algorithm, Encoding, Prefix and Template are the generic "hmac"
	// scheme's settings (Config fields of the same names).
	Algorithm string
	Encoding  string
	Prefix    string
	Template  string
	// Handshake answers the provider's endpoint verification (SPEC §3.3);
	// nil when the provider has none. HandshakeMethods lists the methods it
	// arrives with (POST is always allowed for deliveries).
	Handshake        Handshake
	HandshakeMethods []string
	// HandshakeAfterAuth says the handshake is signed with the connection's
	// own scheme and recognised by its body (Slack, Zoom, Discord): the
	// caller asks Handshake only once the request verified, so that no
	// unsigned body is ever parsed (SPEC §9). Other handshakes are asked
	// first and must recognise themselves by method, query or header.
	HandshakeAfterAuth bool
	// Doc is the provider documentation the preset follows.
	Doc string
}

// Apply fills the zero authentication fields of cfg from the preset, so a
// connection's own settings win. A zero ReplayWindow takes the preset's
// (which may itself be zero: the caller's default then applies).
func (p Preset) Apply(cfg *Config) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&cfg.Auth, p.Auth)
	fill(&cfg.SignatureHeader, p.SignatureHeader)
	fill(&cfg.TimestampHeader, p.TimestampHeader)
	fill(&cfg.TimestampField, p.TimestampField)
	if cfg.ReplayWindow == 0 {
		cfg.ReplayWindow = p.ReplayWindow
	}
	fill(&cfg.Algorithm, p.Algorithm)
	fill(&cfg.Encoding, p.Encoding)
	fill(&cfg.Prefix, p.Prefix)
	fill(&cfg.Template, p.Template)
}

var (
	schemes = map[string]Scheme{}
	presets = map[string]Preset{}
)

// registerScheme is called from init in each scheme's file.
func registerScheme(name string, s Scheme) {
	if _, dup := schemes[name]; dup {
		panic("verify: duplicate scheme " + name)
	}
	schemes[name] = s
}

// registerPreset is called from init in each provider's file.
func registerPreset(p Preset) {
	if _, dup := presets[p.Type]; dup {
		panic("verify: duplicate preset " + p.Type)
	}
	if _, ok := schemes[p.Auth]; !ok {
		panic("verify: preset " + p.Type + " uses unknown auth " + p.Auth)
	}
	presets[p.Type] = p
}

// LookupPreset returns the preset for a connection type.
func LookupPreset(typ string) (Preset, bool) {
	p, ok := presets[typ]
	return p, ok
}

// Presets lists every preset, sorted by type.
func Presets() []Preset {
	out := make([]Preset, 0, len(presets))
	for _, p := range presets {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// AuthTypes lists every registered auth type, sorted.
func AuthTypes() []string {
	out := make([]string, 0, len(schemes))
	for k := range schemes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Verifier verifies requests for one connection.
type Verifier struct {
	cfg    Config
	scheme Scheme
}

// New returns a Verifier for cfg. It fails closed: an unknown auth type, a
// scheme that needs secrets without any, or "none" without
// AllowUnauthenticated are errors.
func New(cfg Config) (*Verifier, error) {
	s, ok := schemes[cfg.Auth]
	if !ok {
		return nil, fmt.Errorf("unknown auth type %q (known: %v)", cfg.Auth, AuthTypes())
	}
	if s.NeedsSecret() && len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("auth type %q needs at least one secret", cfg.Auth)
	}
	if cfg.Auth == "none" && !cfg.AllowUnauthenticated {
		return nil, fmt.Errorf("auth type \"none\" requires allow_unauthenticated: true")
	}
	if v, ok := s.(interface{ Validate(*Config) error }); ok {
		if err := v.Validate(&cfg); err != nil {
			return nil, fmt.Errorf("auth type %q: %w", cfg.Auth, err)
		}
	}
	return &Verifier{cfg: cfg, scheme: s}, nil
}

// Verify checks one request. A non-nil error is always a *Failure.
func (v *Verifier) Verify(req *Request) (Result, error) { return v.scheme.Verify(&v.cfg, req) }

// Sign signs req with the secret at index i of the configured secrets.
func (v *Verifier) Sign(req *Request, i int) error {
	var s Secret
	if i < len(v.cfg.Secrets) {
		s = v.cfg.Secrets[i]
	}
	return v.scheme.Sign(&v.cfg, req, s)
}

// Config returns the verifier's configuration.
func (v *Verifier) Config() *Config { return &v.cfg }
