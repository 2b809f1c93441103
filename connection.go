package hookgate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Connection is one receiving endpoint: /webhooks/{Type}/{Name} plus optional
// aliases. Unset fields take the provider preset's value, then the server's
// webhooks defaults. The same struct is read from YAML, from the admin API
// (JSON) and stored in the database for connections registered at run time.
type Connection struct {
	Type string `yaml:"type" json:"type"`
	Name string `yaml:"name" json:"name"`
	// Path is an extra alias, e.g. /webhooks/incident/lead.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Auth is the auth type of SPEC §3.1; empty means the preset's.
	Auth            string     `yaml:"auth,omitempty" json:"auth,omitempty"`
	SigningSecret   string     `yaml:"signing_secret,omitempty" json:"signing_secret,omitempty"`
	SigningSecrets  []string   `yaml:"signing_secrets,omitempty" json:"signing_secrets,omitempty"`
	BasicAuth       *BasicAuth `yaml:"basic_auth,omitempty" json:"basic_auth,omitempty"`
	APIKey          *APIKey    `yaml:"api_key,omitempty" json:"api_key,omitempty"`
	SignatureHeader string     `yaml:"signature_header,omitempty" json:"signature_header,omitempty"`
	NonceHeader     string     `yaml:"nonce_header,omitempty" json:"nonce_header,omitempty"`
	TimestampHeader string     `yaml:"timestamp_header,omitempty" json:"timestamp_header,omitempty"`
	// Algorithm, Encoding, SignaturePrefix and SignedContent configure auth
	// "hmac", the generic scheme for providers without a preset: sha1,
	// sha256 (default) or sha512; hex (default) or base64; a prefix such as
	// "sha256="; and the signed content with placeholders {body},
	// {timestamp}, {method}, {url}, {header:Name} (default "{body}").
	Algorithm       string `yaml:"algorithm,omitempty" json:"algorithm,omitempty"`
	Encoding        string `yaml:"encoding,omitempty" json:"encoding,omitempty"`
	SignaturePrefix string `yaml:"signature_prefix,omitempty" json:"signature_prefix,omitempty"`
	SignedContent   string `yaml:"signed_content,omitempty" json:"signed_content,omitempty"`
	// VerifyToken is the token a provider echoes in its subscription
	// handshake (Meta hub.verify_token); empty accepts any signing secret.
	VerifyToken string `yaml:"verify_token,omitempty" json:"verify_token,omitempty"`
	// EventType says where the event type lives: "header:X-GitHub-Event",
	// "body:type", or several joined by "+" ("body:type+body:action" → "issue.create").
	EventType string `yaml:"event_type,omitempty" json:"event_type,omitempty"`
	// Nonce says where the delivery id lives, in the form of EventType
	// ("body:id", "header:X-Request-Id"); it wins over the scheme's and the
	// preset's nonce. Set it or NonceHeader, not both.
	Nonce               string `yaml:"nonce,omitempty" json:"nonce,omitempty"`
	ReplayWindowSeconds *int   `yaml:"replay_window_seconds,omitempty" json:"replay_window_seconds,omitempty"`
	MaxPayloadBytes     *int64 `yaml:"max_payload_bytes,omitempty" json:"max_payload_bytes,omitempty"`
	IdempotencyTTL      *int   `yaml:"idempotency_ttl_seconds,omitempty" json:"idempotency_ttl_seconds,omitempty"`
	// PublicURL is the URL the provider calls, for schemes that sign it
	// (Twilio, Square, Trello, HubSpot v3).
	PublicURL string `yaml:"public_url,omitempty" json:"public_url,omitempty"`
	// AllowedIPs restricts senders to these CIDRs (empty: anyone).
	AllowedIPs []string `yaml:"allowed_ips,omitempty" json:"allowed_ips,omitempty"`
	// AcceptForm accepts form-encoded bodies (their fields become the
	// envelope) on a connection whose preset does not post forms.
	AcceptForm bool `yaml:"accept_form,omitempty" json:"accept_form,omitempty"`
	// AllowUnauthenticated must be true for auth "none".
	AllowUnauthenticated bool         `yaml:"allow_unauthenticated,omitempty" json:"allow_unauthenticated,omitempty"`
	Enabled              *bool        `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	Paused               bool         `yaml:"paused,omitempty" json:"paused,omitempty"`
	Response             *Response    `yaml:"response,omitempty" json:"response,omitempty"`
	Retry                *RetryPolicy `yaml:"retry,omitempty" json:"retry,omitempty"`
	Routes               []Route      `yaml:"routes,omitempty" json:"routes,omitempty"`
	// StatusPath names the path of the sender's poll (SPEC §4.2 "Job
	// results"), e.g. "/job/{id}": it is resolved against the directory of
	// the connection's path (its alias when set), so /job/{id} on
	// /webhooks/sales-prospecting/summary answers at
	// /webhooks/sales-prospecting/job/{id}. Connections may share one.
	StatusPath string `yaml:"status_path,omitempty" json:"status_path,omitempty"`
	// ReadOnly marks connections defined in the config file (not stored).
	ReadOnly bool `yaml:"-" json:"read_only"`
	// Backfill recovers what the provider sent but hookgate never stored,
	// through the provider's listing API (SPEC §4.5); nil for none.
	Backfill *Backfill `yaml:"backfill,omitempty" json:"backfill,omitempty"`
}

// Backfill configures the recovery of a connection's missed deliveries from
// its provider's API (package backfill). It is read from the config file
// only: APIToken is a credential and is never stored or shown by the API.
type Backfill struct {
	// APIToken authenticates the listing API: a GitHub token (a JWT for
	// the app's hook) or a Stripe secret key (a restricted key that may
	// read events is enough).
	APIToken string `yaml:"api_token" json:"-"`
	// Every runs the backfill in the background this often; 0 runs it
	// only on demand (hookgate backfill).
	Every Duration `yaml:"every,omitempty" json:"every,omitempty"`
	// Lookback is how far back each background run looks (default 24h).
	Lookback Duration `yaml:"lookback,omitempty" json:"lookback,omitempty"`
	// APIBaseURL replaces the provider's API address (GitHub Enterprise
	// Server, or a local fake in tests).
	APIBaseURL string `yaml:"api_base_url,omitempty" json:"api_base_url,omitempty"`
	// Hook names the GitHub webhook: repos/OWNER/REPO/hooks/ID,
	// orgs/ORG/hooks/ID or app.
	Hook string `yaml:"hook,omitempty" json:"hook,omitempty"`
}

// DefaultBackfillLookback is the window of a background backfill run.
const DefaultBackfillLookback = 24 * time.Hour

// BasicAuth is the credential pair of auth type "basic".
type BasicAuth struct {
	Username string `yaml:"username" json:"username"`
	Password string `yaml:"password" json:"password"`
}

// APIKey is the credential of auth type "api_key". Header defaults to
// Authorization, where the value is expected after "Bearer ".
type APIKey struct {
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	Value  string `yaml:"value" json:"value"`
}

// Response customises the success answer. The default is 204 No Content.
type Response struct {
	Status int    `yaml:"status" json:"status"`
	Body   string `yaml:"body,omitempty" json:"body,omitempty"` // "json" or empty
	// Fields, when set, are the data object of the JSON answer: each key
	// gets the value its source names in the delivery ("body:id",
	// "header:X-Request-Id", "connection:name", "receipt:id"; see
	// rules.ValidateAnswerSource). They imply Body "json".
	Fields map[string]string `yaml:"fields,omitempty" json:"fields,omitempty"`
}

// Route sends receipts of matching event types to an ordered list of handlers.
type Route struct {
	// Events lists event types; an entry may end in "*". Empty matches all.
	Events []string `yaml:"events,omitempty" json:"events,omitempty"`
	// Filter is a CEL expression over body, headers, event_type and
	// connection; the route takes a delivery only when it is true.
	Filter string `yaml:"filter,omitempty" json:"filter,omitempty"`
	// Schema is a JSON Schema (2020-12) the body must satisfy; Validate
	// says when it is checked: "async" (default, at dispatch: a failure
	// sends the receipt to dead) or "sync" (at ingest: a failure is a 400).
	Schema   *RouteSchema `yaml:"schema,omitempty" json:"schema,omitempty"`
	Validate string       `yaml:"validate,omitempty" json:"validate,omitempty"`
	// Transform is a jq program run at dispatch on the stored body; its
	// output is the body the route's handlers receive.
	Transform   string `yaml:"transform,omitempty" json:"transform,omitempty"`
	OrderingKey string `yaml:"ordering_key,omitempty" json:"ordering_key,omitempty"`
	// Mode is "async" (default: answer once stored) or "sync": answer with
	// the reply of ReplyFrom (default: the first handler) once the route's
	// handlers ran inline, within SyncTimeout (SPEC §4.2 "Synchronous routes").
	Mode        string   `yaml:"mode,omitempty" json:"mode,omitempty"`
	SyncTimeout Duration `yaml:"sync_timeout,omitempty" json:"sync_timeout,omitempty"`
	ReplyFrom   string   `yaml:"reply_from,omitempty" json:"reply_from,omitempty"`
	Handlers    []string `yaml:"handlers" json:"handlers"`
}

// Route modes.
const (
	ModeAsync = "async"
	ModeSync  = "sync"
)

// Secrets returns the connection's signing secrets, SigningSecret first.
func (c *Connection) Secrets() []string {
	var out []string
	if c.SigningSecret != "" {
		out = append(out, c.SigningSecret)
	}
	return append(out, c.SigningSecrets...)
}

// IsEnabled reports whether the connection accepts deliveries.
func (c *Connection) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// DefaultPath is the canonical ingress path of the connection.
func (c *Connection) DefaultPath() string { return "/webhooks/" + c.Type + "/" + c.Name }

// Duration is a time.Duration that reads "5s", "1h" or a number of seconds.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// RetryPolicy is the backoff of SPEC §4.2. Zero fields take the defaults.
type RetryPolicy struct {
	MaxAttempts     int      `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	InitialInterval Duration `yaml:"initial_interval,omitempty" json:"initial_interval,omitempty"`
	MaxInterval     Duration `yaml:"max_interval,omitempty" json:"max_interval,omitempty"`
	Multiplier      float64  `yaml:"multiplier,omitempty" json:"multiplier,omitempty"`
}

// Retry policy defaults (SPEC §4.2).
const (
	DefaultMaxAttempts     = 8
	DefaultInitialInterval = 5 * time.Second
	DefaultMaxInterval     = time.Hour
	DefaultMultiplier      = 2.0
)

// WithDefaults fills zero fields from each of fallbacks in turn (nil ones
// are skipped) and then from the SPEC defaults. p may be nil.
func (p *RetryPolicy) WithDefaults(fallbacks ...*RetryPolicy) RetryPolicy {
	var out RetryPolicy
	for _, src := range append([]*RetryPolicy{p}, fallbacks...) {
		if src == nil {
			continue
		}
		if out.MaxAttempts == 0 {
			out.MaxAttempts = src.MaxAttempts
		}
		if out.InitialInterval == 0 {
			out.InitialInterval = src.InitialInterval
		}
		if out.MaxInterval == 0 {
			out.MaxInterval = src.MaxInterval
		}
		if out.Multiplier == 0 {
			out.Multiplier = src.Multiplier
		}
	}
	if out.MaxAttempts == 0 {
		out.MaxAttempts = DefaultMaxAttempts
	}
	if out.InitialInterval == 0 {
		out.InitialInterval = Duration(DefaultInitialInterval)
	}
	if out.MaxInterval == 0 {
		out.MaxInterval = Duration(DefaultMaxInterval)
	}
	if out.Multiplier == 0 {
		out.Multiplier = DefaultMultiplier
	}
	return out
}

// HandlerConfig declares a destination (SPEC §5 "handler").
type HandlerConfig struct {
	Name string `yaml:"name" json:"name"`
	Type string `yaml:"type" json:"type"`
	// http
	URL           string            `yaml:"url,omitempty" json:"url,omitempty"`
	Headers       map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Timeout       Duration          `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	SigningSecret string            `yaml:"signing_secret,omitempty" json:"-"`
	// exec
	Command []string          `yaml:"command,omitempty" json:"command,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// brokers
	Subject    string   `yaml:"subject,omitempty" json:"subject,omitempty"`
	Brokers    []string `yaml:"brokers,omitempty" json:"brokers,omitempty"`
	Topic      string   `yaml:"topic,omitempty" json:"topic,omitempty"`
	Key        string   `yaml:"key,omitempty" json:"key,omitempty"`
	Exchange   string   `yaml:"exchange,omitempty" json:"exchange,omitempty"`
	RoutingKey string   `yaml:"routing_key,omitempty" json:"routing_key,omitempty"`
	Stream     string   `yaml:"stream,omitempty" json:"stream,omitempty"`
	// all
	Retry       *RetryPolicy `yaml:"retry,omitempty" json:"retry,omitempty"`
	Concurrency int          `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	RateLimit   float64      `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`
	Circuit     *Circuit     `yaml:"circuit,omitempty" json:"circuit,omitempty"`
}

// Circuit configures a handler's circuit breaker.
type Circuit struct {
	FailureThreshold int      `yaml:"failure_threshold,omitempty" json:"failure_threshold,omitempty"`
	ResetTimeout     Duration `yaml:"reset_timeout,omitempty" json:"reset_timeout,omitempty"`
}

// SecretID names a secret in traces, receipts and the API without revealing
// it: "sec_" and 8 hex digits of a domain-separated SHA-256. It is stable, so
// retiring one secret of a rotation never renames the others.
func SecretID(secret string) string {
	sum := sha256.Sum256([]byte("hookgate secret id\x00" + secret))
	return "sec_" + hex.EncodeToString(sum[:4])
}
