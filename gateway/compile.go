package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/dispatch"
	"github.com/hookgate/hookgate/handler/httpsend"
	"github.com/hookgate/hookgate/handler/logsend"
	"github.com/hookgate/hookgate/ingress"
	"github.com/hookgate/hookgate/rules"
	"github.com/hookgate/hookgate/verify"
)

// snapshot is an immutable compilation of every connection and handler. It
// answers ingress lookups and dispatch plans; a change builds a new one and
// swaps it in atomically, so a request sees one consistent configuration.
type snapshot struct {
	enabled  bool
	byPath   map[string]*ingress.Endpoint
	byName   map[string]*ingress.Endpoint
	handlers map[string]*compiledHandler
	server   *hookgate.RetryPolicy
	// polls are the connections by status_path prefix (sync.go).
	polls map[string][]*ingress.Endpoint
}

type compiledHandler struct {
	cfg     hookgate.HandlerConfig
	sender  hookgate.Sender
	timeout time.Duration
	// source says where the handler is defined: sourceFile, sourceCode,
	// sourceAPI or sourceBuiltin (handlers.go).
	source string
	// closer ends the connection of a broker handler (destinations.go).
	closer io.Closer
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// minLease is the shortest dispatch.lease: a process renews its leases every
// third of it, in one write.
const minLease = time.Second

// goHandlerType is the type of a handler entry that configures a Go handler
// registered in code (its retry, timeout, concurrency, rate_limit and
// circuit); Handlers lists Go handlers with this type.
const goHandlerType = "func"

// defaultHandlerTimeout bounds a handler call when the handler sets none.
const defaultHandlerTimeout = 30 * time.Second

// compile builds a snapshot from the file config, what the database holds
// (run-time connections and handlers) and the Go handlers registered in
// code. File connections win name clashes.
func (g *Gateway) compile(cfg *config.Config, st storedConfig) (*snapshot, []error) {
	stored := st.connections
	var errs []error
	s := &snapshot{
		enabled:  cfg.Webhooks.Enabled == nil || *cfg.Webhooks.Enabled,
		byPath:   map[string]*ingress.Endpoint{},
		byName:   map[string]*ingress.Endpoint{},
		handlers: map[string]*compiledHandler{},
		server:   cfg.Dispatch.Retry,
	}
	if lease := time.Duration(cfg.Dispatch.Lease); lease < minLease {
		errs = append(errs, fmt.Errorf("dispatch.lease %v is too short: at least %v (it is renewed every third of itself)", lease, minLease))
	}
	for name, sender := range g.funcs {
		s.handlers[name] = &compiledHandler{cfg: hookgate.HandlerConfig{Name: name, Type: goHandlerType}, sender: sender, timeout: defaultHandlerTimeout, source: sourceCode}
	}
	configured := map[string]bool{}
	for _, h := range cfg.Handlers {
		ch, err := g.compileHandler(cfg, h)
		if err != nil {
			errs = append(errs, fmt.Errorf("handler %q: %w", h.Name, err))
			continue
		}
		if _, dup := s.handlers[h.Name]; dup && (h.Type != goHandlerType || configured[h.Name]) {
			errs = append(errs, fmt.Errorf("handler %q is defined twice", h.Name))
			continue
		}
		ch.source = sourceFile
		s.handlers[h.Name] = ch
		configured[h.Name] = true
	}
	errs = append(errs, g.compileStoredHandlers(cfg, st.handlers, s.handlers)...)
	addBuiltins(g, s.handlers)
	all := make([]*hookgate.Connection, 0, len(cfg.Connections)+len(stored))
	for i := range cfg.Connections {
		// A copy marked read-only, whether the caller built cfg from a
		// file or in code: connections of the configuration cannot be
		// changed through the admin API.
		c := cfg.Connections[i]
		c.ReadOnly = true
		all = append(all, &c)
	}
	all = append(all, stored...)
	// origin says where connection i of all is defined, for messages.
	origin := func(i int) string {
		if i < len(cfg.Connections) {
			return "in " + cfg.ConnectionSource(i)
		}
		return "stored in the database (registered at run time)"
	}
	firstAt := map[string]int{}
	var rc rules.Compiler // one CEL environment for every filter
	for i, c := range all {
		ep, err := compileConnection(&cfg.Webhooks, s.handlers, c)
		if err == nil {
			err = compileRules(&rc, cfg, ep)
		}
		if err == nil {
			err = checkBackfill(c, i >= len(cfg.Connections))
		}
		if err == nil && cfg.Limits.InflightBodyBytes > 0 && ep.MaxPayload > cfg.Limits.InflightBodyBytes {
			err = fmt.Errorf("max_payload_bytes %d exceeds limits.inflight_body_bytes %d: a body that size could never be received", ep.MaxPayload, cfg.Limits.InflightBodyBytes)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("connection %q: %w", c.Name, err))
			continue
		}
		if prev, dup := s.byName[c.Name]; dup {
			errs = append(errs, duplicateName(prev.Conn, origin(firstAt[c.Name]), c, origin(i), i >= len(cfg.Connections)))
			continue
		}
		firstAt[c.Name] = i
		paths := []string{c.DefaultPath()}
		if c.Path != "" {
			paths = append(paths, c.Path)
		}
		clash := false
		for _, p := range paths {
			if other, ok := s.byPath[p]; ok {
				errs = append(errs, fmt.Errorf("connection %q: path %s is already used by %q", c.Name, p, other.Conn.Name))
				clash = true
			}
		}
		if clash {
			continue
		}
		s.byName[c.Name] = ep
		for _, p := range paths {
			s.byPath[p] = ep
		}
	}
	s.compilePolls()
	return s, errs
}

// duplicateName explains a name used by two connections: where each copy
// lives and how to keep one. A run-time copy can only be removed through a
// running server, which cannot start while the file clashes with it.
func duplicateName(first *hookgate.Connection, firstAt string, second *hookgate.Connection, secondAt string, secondStored bool) error {
	fix := "rename one of them (names are unique across types)"
	if secondStored {
		fix = fmt.Sprintf("to keep the file's copy, remove the stored one: start hookgate without this connection in its file and run "+
			"\"hookgate connections rm %s %s\"; or rename one of them (names are unique across types)", second.Type, second.Name)
	}
	return fmt.Errorf("connection name %q is used twice: %s/%s %s, and %s/%s %s; %s",
		second.Name, first.Type, first.Name, firstAt, second.Type, second.Name, secondAt, fix)
}

func (g *Gateway) compileHandler(cfg *config.Config, h hookgate.HandlerConfig) (*compiledHandler, error) {
	if !namePattern.MatchString(h.Name) {
		return nil, fmt.Errorf("name must match %s", namePattern)
	}
	ch := &compiledHandler{cfg: h, timeout: time.Duration(h.Timeout)}
	if ch.timeout == 0 {
		ch.timeout = defaultHandlerTimeout
	}
	switch h.Type {
	case "log":
		ch.sender = &logsend.Sender{Name: h.Name, Logger: g.logger}
	case "http":
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("url must be an absolute http(s) URL")
		}
		secret := h.SigningSecret
		if secret == "" {
			secret = cfg.SigningSecret
		}
		sender, err := httpsend.New(h.URL, h.Headers, secret, g.httpClient, g.now)
		if err != nil {
			return nil, err
		}
		sender.MaxReply = cfg.Webhooks.MaxReplyBytes
		ch.sender = sender
	case goHandlerType:
		// The settings of a Go handler registered in code under this name.
		sender, ok := g.funcs[h.Name]
		if !ok {
			return nil, fmt.Errorf("type %s: no Go handler is registered under this name (gateway.Options.Handlers or Gateway.Handle)", goHandlerType)
		}
		ch.sender = sender
	case "exec", "nats", "rabbitmq", "redis", "kafka":
		sender, closer, err := g.destination(h)
		if err != nil {
			return nil, err
		}
		ch.sender, ch.closer = sender, closer
	case "":
		return nil, fmt.Errorf("type is required (%s)", handlerTypes)
	default:
		return nil, fmt.Errorf("handler type %q is not available in this version (available: %s, and Go functions registered in code)", h.Type, handlerTypes)
	}
	if h.RateLimit < 0 {
		return nil, fmt.Errorf("rate_limit must not be negative (0 means no limit)")
	}
	if c := h.Circuit; c != nil && (c.FailureThreshold < 0 || c.ResetTimeout < 0) {
		return nil, fmt.Errorf("circuit: failure_threshold and reset_timeout must not be negative (0 means the default: %d, %v)",
			hookgate.DefaultFailureThreshold, hookgate.DefaultResetTimeout)
	}
	if h.Concurrency < 0 {
		return nil, fmt.Errorf("concurrency must not be negative (0 means dispatch.workers)")
	}
	return ch, nil
}

// compileConnection resolves a connection against its preset and the server
// defaults and builds its verifier. It fails closed: unknown auth types,
// missing secrets and unknown handlers are errors.
// replayWindow is a connection's replay window: its own
// replay_window_seconds, else its preset's (the provider's documented
// tolerance: Paddle 5 s, Linear 60 s, …), else the server's
// webhooks.replay_window_seconds.
func replayWindow(wh *config.Webhooks, preset verify.Preset, c *hookgate.Connection) time.Duration {
	switch {
	case c.ReplayWindowSeconds != nil:
		return time.Duration(*c.ReplayWindowSeconds) * time.Second
	case preset.ReplayWindow > 0:
		return preset.ReplayWindow
	}
	return time.Duration(wh.ReplayWindowSeconds) * time.Second
}

func compileConnection(wh *config.Webhooks, handlers map[string]*compiledHandler, c *hookgate.Connection) (*ingress.Endpoint, error) {
	if !namePattern.MatchString(c.Type) {
		return nil, fmt.Errorf("type %q must match %s", c.Type, namePattern)
	}
	if !namePattern.MatchString(c.Name) {
		return nil, fmt.Errorf("name %q must match %s", c.Name, namePattern)
	}
	if c.Path != "" && (!strings.HasPrefix(c.Path, "/") || strings.Contains(c.Path, "/receipts/")) {
		return nil, fmt.Errorf("path %q must start with / and must not contain /receipts/", c.Path)
	}
	preset, hasPreset := verify.LookupPreset(c.Type)
	pick := func(own, fromPreset string) string {
		if own != "" {
			return own
		}
		return fromPreset
	}
	auth := pick(c.Auth, preset.Auth)
	if auth == "" {
		return nil, fmt.Errorf("type %q has no provider preset; set auth (one of %v)", c.Type, verify.AuthTypes())
	}
	replay := replayWindow(wh, preset, c)
	secrets := make([]verify.Secret, 0, 2)
	for i, v := range c.Secrets() {
		if v == "" {
			return nil, fmt.Errorf("signing secret %d is empty (is its ${ENV} variable set?)", i+1)
		}
		secrets = append(secrets, verify.Secret{ID: hookgate.SecretID(v), Value: v})
	}
	vcfg := verify.Config{
		Auth:                 auth,
		Secrets:              secrets,
		Basic:                c.BasicAuth,
		APIKey:               c.APIKey,
		SignatureHeader:      pick(c.SignatureHeader, preset.SignatureHeader),
		TimestampHeader:      pick(c.TimestampHeader, preset.TimestampHeader),
		ReplayWindow:         replay,
		AllowUnauthenticated: c.AllowUnauthenticated,
		Algorithm:            c.Algorithm,
		Encoding:             c.Encoding,
		Prefix:               c.SignaturePrefix,
		Template:             c.SignedContent,
		VerifyToken:          c.VerifyToken,
	}
	preset.Apply(&vcfg)
	v, err := verify.New(vcfg)
	authCfg := &vcfg
	if err != nil {
		if !awaitsSecret(c, preset, vcfg) {
			if len(secrets) == 0 && preset.Handshake != nil && c.ReadOnly {
				return nil, fmt.Errorf("%w (a %s connection may start without a secret and learn it in the provider's handshake only when it is registered through the admin API; a file-defined one needs its secret in the file)", err, c.Type)
			}
			return nil, err
		}
		// No secret yet: only the handshake is answered until the provider
		// hands one over (Asana) or one is added through the admin API.
		v = nil
	} else {
		authCfg = v.Config()
	}
	ep := &ingress.Endpoint{
		Conn:             c,
		Verifier:         v,
		Auth:             authCfg,
		Handshake:        preset.Handshake,
		HandshakeMethods: preset.HandshakeMethods,
		NonceHeader:      pick(c.NonceHeader, preset.NonceHeader),
		NonceExplicit:    c.NonceHeader != "",
		EventType:        pick(c.EventType, preset.EventType),
		MaxPayload:       wh.MaxPayloadBytes,
		IdempotencyTTL:   time.Duration(wh.IdempotencyTTLSeconds) * time.Second,
	}
	if hasPreset && c.NonceHeader == "" {
		ep.NonceBody = preset.NonceBody
	}
	ep.AllowEmptyBody = preset.EmptyBody
	ep.HandshakeAfterAuth = preset.HandshakeAfterAuth
	ep.AllowArrayBody = preset.ArrayBody
	ep.AcceptForm = preset.Form || c.AcceptForm
	ep.FormPayload = preset.FormPayload
	if ep.AllowedIPs, err = ingress.ParsePrefixes(c.AllowedIPs); err != nil {
		return nil, fmt.Errorf("allowed_ips: %w", err)
	}
	if c.PublicURL != "" {
		if ep.PublicURL, err = absoluteURL(c.PublicURL); err != nil {
			return nil, fmt.Errorf("public_url: %w", err)
		}
	}
	if c.MaxPayloadBytes != nil {
		ep.MaxPayload = *c.MaxPayloadBytes
	}
	if c.IdempotencyTTL != nil {
		ep.IdempotencyTTL = time.Duration(*c.IdempotencyTTL) * time.Second
	}
	if ep.MaxPayload <= 0 || ep.MaxPayload > config.MaxPayloadCap {
		return nil, fmt.Errorf("max_payload_bytes is %d: it must be between 1 and %d (64 MiB)", ep.MaxPayload, config.MaxPayloadCap)
	}
	if ep.IdempotencyTTL <= 0 || replay <= 0 {
		return nil, fmt.Errorf("idempotency_ttl_seconds and replay_window_seconds must be positive")
	}
	if err := rules.ValidateSource(ep.EventType); err != nil {
		return nil, fmt.Errorf("event_type: %w", err)
	}
	switch auth {
	case "secret":
		ep.RedactHeaders = append(ep.RedactHeaders, vcfg.SignatureHeader)
	case "api_key":
		if c.APIKey != nil && c.APIKey.Header != "" {
			ep.RedactHeaders = append(ep.RedactHeaders, c.APIKey.Header)
		}
	}
	if c.Response != nil && c.Response.Status != 0 {
		if c.Response.Status < 200 || c.Response.Status > 299 {
			return nil, fmt.Errorf("response.status must be a 2xx code")
		}
		if c.Response.Body != "" && c.Response.Body != "json" {
			return nil, fmt.Errorf(`response.body must be "json" or empty`)
		}
	}
	if err := compileAnswer(c); err != nil {
		return nil, err
	}
	for i, r := range c.Routes {
		if r.OrderingKey != "" {
			src, err := rules.OrderingSource(r.OrderingKey)
			if err != nil {
				return nil, fmt.Errorf("route %d: %w", i+1, err)
			}
			if ep.OrderingKeys == nil {
				ep.OrderingKeys = make([]string, len(c.Routes))
			}
			ep.OrderingKeys[i] = src
		}
		if len(r.Handlers) == 0 {
			return nil, fmt.Errorf("route %d: handlers is empty", i+1)
		}
		for _, h := range r.Handlers {
			if _, ok := handlers[h]; !ok {
				return nil, fmt.Errorf("route %d: unknown handler %q", i+1, h)
			}
		}
	}
	if err := compileSync(c, ep); err != nil {
		return nil, err
	}
	return ep, nil
}

// awaitsSecret reports whether a run-time connection may start without a
// signing secret: its provider has a handshake (which may hand the secret
// over, like Asana's X-Hook-Secret), and the missing secret is the only
// thing wrong with its auth settings. File-defined connections cannot learn
// a secret (they are read-only at run time), so they always need one.
func awaitsSecret(c *hookgate.Connection, preset verify.Preset, vcfg verify.Config) bool {
	if c.ReadOnly || preset.Handshake == nil || len(vcfg.Secrets) > 0 || vcfg.Basic != nil || vcfg.APIKey != nil {
		return false
	}
	probe := vcfg
	probe.Secrets = []verify.Secret{{ID: "probe", Value: "probe-secret"}}
	_, err := verify.New(probe)
	return err == nil
}

// absoluteURL parses an http(s) URL with a host.
func absoluteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return u, nil
}

// network reads the server-wide settings that decide who the sender is and
// which URL it called: trusted_proxies and public_base_url.
func network(cfg *config.Config) (ingress.Proxies, *url.URL, error) {
	proxies, err := ingress.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	var base *url.URL
	if cfg.PublicBaseURL != "" {
		if base, err = absoluteURL(cfg.PublicBaseURL); err != nil {
			return nil, nil, fmt.Errorf("public_base_url: %w", err)
		}
	}
	return proxies, base, nil
}

// Lookup implements ingress.Directory.
func (s *snapshot) Lookup(path string) (*ingress.Endpoint, error) {
	if ep, ok := s.byPath[path]; ok {
		return ep, nil
	}
	if rest, ok := strings.CutPrefix(path, "/webhooks/"); ok {
		typ, name, ok := strings.Cut(rest, "/")
		if ok && typ != "" && name != "" && !strings.Contains(name, "/") {
			if ep, ok := s.byName[name]; ok && ep.Conn.Type != typ {
				return nil, hookgate.Errorf(hookgate.EWrongType, "connection %q is not a %s connection", name, typ)
			}
		}
	}
	return nil, hookgate.Errorf(hookgate.ENotFound, "no connection at %s", path)
}

// Enabled implements ingress.Directory.
func (s *snapshot) Enabled() bool { return s.enabled }

// Plan implements dispatch.Planner.
func (s *snapshot) Plan(r *hookgate.Receipt) ([]dispatch.Target, hookgate.Status, error) {
	ep, ok := s.byName[r.Connection]
	if !ok || ep.Conn.Type != r.ConnectionType {
		return nil, "", fmt.Errorf("connection %s/%s no longer exists", r.ConnectionType, r.Connection)
	}
	conn := ep.Conn
	if conn.Paused {
		return nil, hookgate.StatusHeld, nil
	}
	routes, status, err := planRoutes(ep, r)
	if status != "" || err != nil {
		return nil, status, err
	}
	var targets []dispatch.Target
	seen := map[string]bool{}
	for _, rt := range routes {
		for _, name := range rt.Handlers {
			if seen[name] {
				continue
			}
			seen[name] = true
			h, ok := s.handlers[name]
			if !ok {
				return nil, "", fmt.Errorf("handler %q no longer exists", name)
			}
			targets = append(targets, dispatch.Target{
				Name:    name,
				Type:    h.cfg.Type,
				Sender:  h.sender,
				Retry:   h.cfg.Retry.WithDefaults(conn.Retry, s.server),
				Timeout: h.timeout,
				// 0 (unset) is dispatch.workers, the dispatcher's default.
				Concurrency: h.cfg.Concurrency,
				RateLimit:   h.cfg.RateLimit,
				Circuit:     h.cfg.Circuit.WithDefaults(),
				Body:        rt.body,
			})
		}
	}
	return targets, "", nil
}

var _ http.Handler = (*ingress.Server)(nil)
