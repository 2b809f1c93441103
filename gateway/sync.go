package gateway

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/dispatch"
	"github.com/hookgate/hookgate/ingress"
	"github.com/hookgate/hookgate/metrics"
)

// Synchronous routes and the sender's poll: what compile checks and builds
// for them (SPEC §4.2, §5 mode, sync_timeout, reply_from, status_path).

// MaxSyncTimeout caps a route's sync_timeout: a provider that waits longer
// than this for an answer is rare, and each sync delivery in flight holds a
// slot of limits.sync_concurrency and its request.
const MaxSyncTimeout = 30 * time.Second

// providerTimeouts are the answer deadlines providers document for their
// deliveries; a sync route's sync_timeout must leave syncMargin of them for
// the answer to travel back, and its default is shortened to fit.
var providerTimeouts = map[string]time.Duration{
	"slack":   3 * time.Second,  // slash commands and interactivity: "within 3000 ms"
	"shopify": 5 * time.Second,  // "respond within five seconds"
	"github":  10 * time.Second, // "respond within 10 seconds"
	"twilio":  15 * time.Second, // default webhook timeout 15 s
}

const syncMargin = 500 * time.Millisecond

// syncCap is the longest sync_timeout a connection of type typ may set.
func syncCap(typ string) time.Duration {
	if d, ok := providerTimeouts[typ]; ok {
		return d - syncMargin
	}
	return MaxSyncTimeout
}

// statusPathPattern: fixed segments, then {id} as the last one.
var statusPathPattern = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+/\{id\}$`)

// compileSync checks the sync routes and status_path of c and sets what
// ingress needs of them on ep.
func compileSync(c *hookgate.Connection, ep *ingress.Endpoint) error {
	limit := syncCap(c.Type)
	ep.SyncTimeout = min(ingress.DefaultSyncTimeout, limit)
	for i, r := range c.Routes {
		switch r.Mode {
		case "", hookgate.ModeAsync:
			if r.SyncTimeout != 0 || r.ReplyFrom != "" {
				return fmt.Errorf("route %d: sync_timeout and reply_from apply to mode: sync only", i+1)
			}
			continue
		case hookgate.ModeSync:
		default:
			return fmt.Errorf("route %d: mode %q must be async or sync", i+1, r.Mode)
		}
		ep.Sync = true
		if d := time.Duration(r.SyncTimeout); d < 0 || d > limit {
			return fmt.Errorf("route %d: sync_timeout %v must be between 0 (default %v) and %v for a %s connection", i+1, d, ep.SyncTimeout, limit, c.Type)
		}
		if r.ReplyFrom != "" && !contains(r.Handlers, r.ReplyFrom) {
			return fmt.Errorf("route %d: reply_from %q is not one of the route's handlers %v", i+1, r.ReplyFrom, r.Handlers)
		}
	}
	if c.StatusPath != "" {
		if !statusPathPattern.MatchString(c.StatusPath) {
			return fmt.Errorf("status_path %q must be a path ending in /{id}, e.g. /job/{id}", c.StatusPath)
		}
		switch ep.AuthConfig().Auth {
		case "basic", "api_key":
		default:
			// A GET has no body: an HMAC over it would be one static
			// signature per secret, replayable forever.
			return fmt.Errorf("status_path needs a credential a GET can carry: auth basic or api_key (this connection's is %s)", ep.AuthConfig().Auth)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// pollPrefix is where c's status_path answers: the directory of its path
// (its alias when set) followed by status_path without {id}.
func pollPrefix(c *hookgate.Connection) string {
	p := c.Path
	if p == "" {
		p = c.DefaultPath()
	}
	dir := p[:strings.LastIndex(p, "/")]
	return dir + strings.TrimSuffix(c.StatusPath, "{id}")
}

// compilePolls builds the status_path table of s: connections may share a
// prefix (seed 000's one job path for two sales-prospecting endpoints); the
// poll then shows the receipts of those whose credentials the caller holds.
func (s *snapshot) compilePolls() {
	names := make([]string, 0, len(s.byName))
	for name, ep := range s.byName {
		if ep.Conn.StatusPath != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		ep := s.byName[name]
		prefix := pollPrefix(ep.Conn)
		if s.polls == nil {
			s.polls = map[string][]*ingress.Endpoint{}
		}
		s.polls[prefix] = append(s.polls[prefix], ep)
	}
}

// LookupPoll implements ingress.PollDirectory.
func (s *snapshot) LookupPoll(path string) ([]*ingress.Endpoint, string, bool) {
	if len(s.polls) == 0 {
		return nil, "", false
	}
	i := strings.LastIndexByte(path, '/')
	eps, ok := s.polls[path[:i+1]]
	if !ok {
		return nil, "", false
	}
	return eps, path[i+1:], true
}

// LookupPoll implements ingress.PollDirectory.
func (f dirFunc) LookupPoll(path string) ([]*ingress.Endpoint, string, bool) {
	if pd, ok := f().(ingress.PollDirectory); ok {
		return pd.LookupPoll(path)
	}
	return nil, "", false
}

// syncRoutes builds the runner of synchronous routes over the dispatcher,
// with its bounds from cfg, and their metric.
func (g *Gateway) syncRoutes(cfg *config.Config) {
	g.dispatcher.MaxReplyBytes = cfg.Webhooks.MaxReplyBytes
	g.inline = &dispatch.Inline{D: g.dispatcher, Concurrency: cfg.Limits.SyncConcurrency}
	g.syncCount = metrics.NewSync(g.metrics.Registry)
}

func (g *Gateway) observeSync(connection string, o ingress.SyncOutcome) {
	g.syncCount.Observe(connection, string(o))
}
