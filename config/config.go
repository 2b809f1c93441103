// Package config reads hookgate's YAML configuration (SPEC §5): strict
// decoding into typed structs (unknown keys are errors), ${ENV} expansion and
// defaults.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/hookgate/hookgate"
)

// Config is the whole file. Zero values take the defaults of Default.
type Config struct {
	Listen         string                   `yaml:"listen"`
	TLS            *TLS                     `yaml:"tls,omitempty"`
	PublicBaseURL  string                   `yaml:"public_base_url,omitempty"`
	TrustedProxies []string                 `yaml:"trusted_proxies,omitempty"`
	Admin          Admin                    `yaml:"admin"`
	Storage        Storage                  `yaml:"storage"`
	Webhooks       Webhooks                 `yaml:"webhooks"`
	Dispatch       Dispatch                 `yaml:"dispatch"`
	Limits         Limits                   `yaml:"limits"`
	Log            Log                      `yaml:"log"`
	Tracing        Tracing                  `yaml:"tracing,omitempty"`
	Connections    []hookgate.Connection    `yaml:"connections,omitempty"`
	Handlers       []hookgate.HandlerConfig `yaml:"handlers,omitempty"`
	// SigningSecret is hookgate's own Standard Webhooks secret used by http
	// handlers that do not set their own (whsec_… or raw).
	SigningSecret string `yaml:"signing_secret,omitempty"`
	// AllowedDestinations are the networks (CIDR or one IP address) and
	// host names that http handlers made at run time through the admin API
	// may reach, checked on every connection's address (SPEC §6). Empty
	// (the default): no http handler can be made at run time. Handlers in
	// this file may point anywhere.
	AllowedDestinations []string `yaml:"allowed_destinations,omitempty"`
	// UnsignedForwarding opts out of signing: without it, an http handler
	// that would forward without a signing secret is a configuration error,
	// so an unset ${ENV} never silently turns signing off.
	UnsignedForwarding bool `yaml:"unsigned_forwarding,omitempty"`

	// Path is the file the config was loaded from ("" for Default and Parse).
	Path string `yaml:"-"`
	// ConnectionLines holds the line of each file connection's name, by
	// index into Connections (0 when unknown), so errors can point at it.
	ConnectionLines []int `yaml:"-"`
}

// ConnectionSource says where file connection i is defined, e.g.
// "hookgate.yaml line 4", for messages that must tell the operator where to
// look.
func (c *Config) ConnectionSource(i int) string {
	where := c.Path
	if where == "" {
		where = "the config file"
	}
	if i < len(c.ConnectionLines) && c.ConnectionLines[i] > 0 {
		return fmt.Sprintf("%s line %d", where, c.ConnectionLines[i])
	}
	return where
}

// TLS enables HTTPS on the public listener.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Admin is the admin listener.
type Admin struct {
	Listen string `yaml:"listen"`
	// Token is the admin bearer token (`hookgate serve` takes
	// HOOKGATE_ADMIN_TOKEN over it).
	Token string `yaml:"token,omitempty"`
	// AllowedHosts are extra host names the admin API answers to (the Host
	// header), e.g. the name a reverse proxy or Prometheus uses. localhost,
	// loopback addresses and the listener's own address are always allowed.
	AllowedHosts []string `yaml:"allowed_hosts,omitempty"`
}

// Storage selects the database.
type Storage struct {
	URL string `yaml:"url"`
	// SecretKeyFile holds the key that seals connection secrets stored in
	// the database (SPEC §9). Default: next to the SQLite file, named after
	// it (hookgate.db → hookgate.key), created 0600 on first start.
	// PostgreSQL has no default: set it or HOOKGATE_SECRET_KEY.
	SecretKeyFile string `yaml:"secret_key_file,omitempty"`
	// SecretKey is the key given as HOOKGATE_SECRET_KEY (never in the file:
	// the key must not sit next to the config it protects). It wins over
	// SecretKeyFile.
	SecretKey string `yaml:"-"`
	// Schema is the PostgreSQL schema hookgate's tables live in (created
	// if missing), so hookgate can share a database; the same as
	// ?search_path=SCHEMA in the URL.
	Schema string `yaml:"schema,omitempty"`
}

var schemaName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// OpenURL is the URL to open: URL with Schema set as its search_path.
func (s Storage) OpenURL() (string, error) {
	if s.Schema == "" {
		return s.URL, nil
	}
	if !strings.HasPrefix(s.URL, "postgres://") && !strings.HasPrefix(s.URL, "postgresql://") {
		return "", fmt.Errorf("storage.schema applies to PostgreSQL only (storage.url is not postgres://)")
	}
	if !schemaName.MatchString(s.Schema) {
		return "", fmt.Errorf("storage.schema %q must match %s", s.Schema, schemaName)
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return "", fmt.Errorf("storage.url: %w", err)
	}
	q := u.Query()
	if sp := q.Get("search_path"); sp != "" && sp != s.Schema {
		return "", fmt.Errorf("storage.schema %q and the URL's search_path %q disagree: set one", s.Schema, sp)
	}
	q.Set("search_path", s.Schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Webhooks are the ingress defaults, overridable per connection.
type Webhooks struct {
	Enabled               *bool `yaml:"enabled,omitempty"`
	ReplayWindowSeconds   int   `yaml:"replay_window_seconds"`
	MaxPayloadBytes       int64 `yaml:"max_payload_bytes"`
	IdempotencyTTLSeconds int   `yaml:"idempotency_ttl_seconds"`
	RetentionDays         int   `yaml:"retention_days"`
	// MaxReplyBytes bounds a handler's reply body kept with its attempt
	// (job results) and answered by a synchronous route; a longer one is
	// kept cut, and a sync route answers as an async one instead of
	// answering it cut. At most MaxReplyCap.
	MaxReplyBytes int64 `yaml:"max_reply_bytes"`
}

// MaxReplyCap is the largest webhooks.max_reply_bytes: every reply kept is
// read whole into memory first.
const MaxReplyCap = 1 << 20

// MaxPayloadCap is the largest max_payload_bytes a server default or a
// connection may set (SPEC §9): a body is held whole in memory until it is
// verified and stored, so the setting bounds the memory of one request.
const MaxPayloadCap = 64 << 20

// Tracing exports OpenTelemetry traces over OTLP/HTTP (off unless
// OTLPEndpoint is set): one span per ingest, one per dispatch attempt in the
// same trace, and traceparent forwarded by http handlers.
type Tracing struct {
	// OTLPEndpoint is the OTLP/HTTP traces URL, e.g.
	// http://127.0.0.1:4318/v1/traces. Empty turns tracing off.
	OTLPEndpoint string `yaml:"otlp_endpoint,omitempty"`
	// Headers are sent with every export (e.g. a backend's API key).
	Headers map[string]string `yaml:"headers,omitempty"`
	// ServiceName is the service.name resource attribute (default hookgate).
	ServiceName string `yaml:"service_name,omitempty"`
	// SampleRatio is the share of deliveries traced, 0 < r ≤ 1 (default 1).
	SampleRatio float64 `yaml:"sample_ratio,omitempty"`
}

// Limits bound what ingress holds at once, across all requests (SPEC §9).
// Past either, ingress answers 503 with Retry-After without reading the
// body, and providers retry.
type Limits struct {
	// MaxConnections is the number of open connections of the public
	// listener past which new connections are answered 503 (and past twice
	// as many, closed unanswered).
	MaxConnections int `yaml:"max_connections"`
	// InflightBodyBytes is the budget of request body bytes ingress holds at
	// once. A declared length is reserved before the body is read; a body
	// of unknown length reserves as it arrives.
	InflightBodyBytes int64 `yaml:"inflight_body_bytes"`
	// SyncConcurrency bounds the deliveries of synchronous routes whose
	// handlers run at once; past it, sync routes answer as async ones.
	SyncConcurrency int `yaml:"sync_concurrency"`
}

// Dispatch tunes the workers.
type Dispatch struct {
	// Workers is how many receipts are dispatched at once (fewer when their
	// bodies are large: the dispatcher holds at most 32 MiB of bodies).
	Workers int `yaml:"workers"`
	// Lease is how long a claimed job is held without renewal before
	// another worker may take it over. A process renews the leases it holds
	// every third of it, so it bounds how long a dead process's jobs wait
	// (PostgreSQL; a restarted SQLite process takes them over at once).
	Lease hookgate.Duration `yaml:"lease"`
	// PollInterval is how often workers look for due retries when idle.
	PollInterval hookgate.Duration `yaml:"poll_interval"`
	// Retry is the server-wide default retry policy.
	Retry *hookgate.RetryPolicy `yaml:"retry,omitempty"`
}

// Log configures the structured logger.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration of `hookgate serve` without --config.
func Default() *Config {
	t := true
	return &Config{
		Listen:  ":8080",
		Admin:   Admin{Listen: "127.0.0.1:8081"},
		Storage: Storage{URL: "sqlite://hookgate.db"},
		Webhooks: Webhooks{
			Enabled:               &t,
			ReplayWindowSeconds:   300,
			MaxPayloadBytes:       1 << 20,
			IdempotencyTTLSeconds: 86400,
			RetentionDays:         30,
			MaxReplyBytes:         64 << 10,
		},
		Dispatch: Dispatch{
			Workers:      128,
			Lease:        hookgate.Duration(15e9),
			PollInterval: hookgate.Duration(1e9),
		},
		Limits: Limits{
			MaxConnections:    4096,
			InflightBodyBytes: 256 << 20,
			SyncConcurrency:   64,
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// Validate checks the server-wide settings that Parse cannot: values out of
// range. `hookgate serve` and `hookgate config check` both refuse a file
// through it (connections are checked when they are compiled).
func (c *Config) Validate() error {
	var errs []error
	payloadOK := c.Webhooks.MaxPayloadBytes > 0 && c.Webhooks.MaxPayloadBytes <= MaxPayloadCap
	if !payloadOK {
		errs = append(errs, fmt.Errorf("webhooks.max_payload_bytes is %d: it must be between 1 and %d (64 MiB)", c.Webhooks.MaxPayloadBytes, MaxPayloadCap))
	}
	if r := c.Tracing.SampleRatio; r < 0 || r > 1 {
		errs = append(errs, fmt.Errorf("tracing.sample_ratio is %v: it must be between 0 and 1", r))
	}
	if e := c.Tracing.OTLPEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("tracing.otlp_endpoint %q must be an absolute http(s) URL, e.g. http://127.0.0.1:4318/v1/traces", e))
		}
	}
	if c.Limits.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("limits.max_connections is %d: it must be positive", c.Limits.MaxConnections))
	}
	if b := c.Limits.InflightBodyBytes; b < 0 || (payloadOK && b > 0 && b < c.Webhooks.MaxPayloadBytes) {
		errs = append(errs, fmt.Errorf("limits.inflight_body_bytes is %d: it must be at least webhooks.max_payload_bytes (%d), or a body of that size could never be received",
			b, c.Webhooks.MaxPayloadBytes))
	}
	if b := c.Webhooks.MaxReplyBytes; b <= 0 || b > MaxReplyCap {
		errs = append(errs, fmt.Errorf("webhooks.max_reply_bytes is %d: it must be between 1 and %d (1 MiB)", b, MaxReplyCap))
	}
	if c.Limits.SyncConcurrency < 0 {
		errs = append(errs, fmt.Errorf("limits.sync_concurrency is %d: it must be positive", c.Limits.SyncConcurrency))
	}
	return errors.Join(errs...)
}

// Load reads, expands and decodes a file over the defaults. It returns the
// names of environment variables that were referenced but unset, so callers
// can say why a secret is empty.
func Load(path string) (*Config, []string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	cfg, missing, err := Parse(raw)
	if err != nil {
		return nil, missing, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Path = path
	return cfg, missing, nil
}

// Parse decodes YAML bytes over the defaults.
func Parse(raw []byte) (*Config, []string, error) {
	expanded, missing := Expand(raw, os.LookupEnv)
	cfg := Default()
	if len(bytes.TrimSpace(expanded)) > 0 {
		if err := yaml.UnmarshalWithOptions(expanded, cfg, yaml.DisallowUnknownField()); err != nil {
			if located := locateDuration(expanded, err); located != nil {
				return nil, missing, fmt.Errorf("parse config: %w", located)
			}
			return nil, missing, fmt.Errorf("parse config: %s", yaml.FormatError(err, false, true))
		}
	}
	cfg.fillDefaults()
	cfg.ConnectionLines = connectionLines(raw, len(cfg.Connections))
	return cfg, missing, nil
}

var badDuration = regexp.MustCompile(`duration ("(?:[^"\\]|\\.)*")`)

// locateDuration gives a bad duration its key and line: the YAML decoder
// reports errors of a value's own parser without a position.
func locateDuration(expanded []byte, err error) error {
	m := badDuration.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	val, uerr := strconv.Unquote(m[1])
	if uerr != nil {
		return nil
	}
	lines := strings.Split(string(expanded), "\n")
	for _, tk := range lexer.Tokenize(string(expanded)) {
		if tk.Value != val || tk.Prev == nil || tk.Prev.Type != token.MappingValueType || tk.Prev.Prev == nil {
			continue
		}
		n := tk.Position.Line
		src := ""
		if n >= 1 && n <= len(lines) {
			src = fmt.Sprintf("\n> %3d | %s", n, lines[n-1])
		}
		return fmt.Errorf("line %d: %s: %s is not a duration (write a Go duration such as 500ms, 30s, 5m or 1h)%s",
			n, tk.Prev.Prev.Value, m[1], src)
	}
	return nil
}

// connectionLines finds the line of each connection's name in the file as
// written (before ${ENV} expansion, whose values may span lines).
func connectionLines(raw []byte, n int) []int {
	lines := make([]int, n)
	file, err := parser.ParseBytes(raw, 0)
	if err != nil {
		return lines
	}
	for i := range lines {
		p, err := yaml.PathString(fmt.Sprintf("$.connections[%d].name", i))
		if err != nil {
			continue
		}
		if node, err := p.FilterFile(file); err == nil && node != nil && node.GetToken() != nil {
			lines[i] = node.GetToken().Position.Line
		}
	}
	return lines
}

func (c *Config) fillDefaults() {
	d := Default()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = d.Admin.Listen
	}
	if c.Storage.URL == "" {
		c.Storage.URL = d.Storage.URL
	}
	if c.Webhooks.Enabled == nil {
		c.Webhooks.Enabled = d.Webhooks.Enabled
	}
	if c.Webhooks.ReplayWindowSeconds == 0 {
		c.Webhooks.ReplayWindowSeconds = d.Webhooks.ReplayWindowSeconds
	}
	if c.Webhooks.MaxPayloadBytes == 0 {
		c.Webhooks.MaxPayloadBytes = d.Webhooks.MaxPayloadBytes
	}
	if c.Webhooks.IdempotencyTTLSeconds == 0 {
		c.Webhooks.IdempotencyTTLSeconds = d.Webhooks.IdempotencyTTLSeconds
	}
	if c.Webhooks.RetentionDays == 0 {
		c.Webhooks.RetentionDays = d.Webhooks.RetentionDays
	}
	if c.Dispatch.Workers == 0 {
		c.Dispatch.Workers = d.Dispatch.Workers
	}
	if c.Dispatch.Lease == 0 {
		c.Dispatch.Lease = d.Dispatch.Lease
	}
	if c.Dispatch.PollInterval == 0 {
		c.Dispatch.PollInterval = d.Dispatch.PollInterval
	}
	if c.Limits.MaxConnections == 0 {
		c.Limits.MaxConnections = d.Limits.MaxConnections
	}
	if c.Limits.InflightBodyBytes == 0 {
		c.Limits.InflightBodyBytes = d.Limits.InflightBodyBytes
	}
	if c.Limits.SyncConcurrency == 0 {
		c.Limits.SyncConcurrency = d.Limits.SyncConcurrency
	}
	if c.Webhooks.MaxReplyBytes == 0 {
		c.Webhooks.MaxReplyBytes = d.Webhooks.MaxReplyBytes
	}
	if c.Log.Level == "" {
		c.Log.Level = d.Log.Level
	}
	if c.Log.Format == "" {
		c.Log.Format = d.Log.Format
	}
	for i := range c.Connections {
		c.Connections[i].ReadOnly = true
	}
}

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// Expand replaces ${NAME} and ${NAME:-default} with values from lookup; "$$"
// stands for a literal "$". Plain $NAME is left alone so that secrets and
// expressions containing "$" survive. It returns the unset names, sorted.
func Expand(raw []byte, lookup func(string) (string, bool)) ([]byte, []string) {
	missing := map[string]bool{}
	out := envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		if string(m) == "$$" {
			return []byte("$")
		}
		sub := envRef.FindSubmatch(m)
		name := string(sub[1])
		if v, ok := lookup(name); ok && v != "" {
			return []byte(v)
		}
		if sub[2] != nil || strings.Contains(string(m), ":-") {
			return sub[2]
		}
		missing[name] = true
		return nil
	})
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	return out, names
}
