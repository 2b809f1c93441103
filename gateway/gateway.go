// Package gateway is hookgate as a Go package: it assembles storage,
// ingress, dispatch and the admin API, and it is what an application embeds
// to handle webhooks in its own code.
//
// # Embedding
//
// Build a Gateway from a configuration file (NewFromFile) or from a
// config.Config made in code (New, starting from config.Default()), and give
// it Go handlers: a hookgate.Sender, or a function through
// hookgate.SenderFunc; one that returns the destination's reply implements
// hookgate.Replier (hookgate.ReplierFunc). Routes name them like any other
// handler. Handlers that the configuration's routes name go in
// Options.Handlers, since New compiles the configuration; Handle adds more
// later, for connections registered at run time.
//
// A Go handler is dispatched as the built-in ones are: each delivery is
// stored before the provider gets its answer, and the handler is called from
// the dispatcher with the connection's retry policy, backoff, dead-lettering,
// replay and per-handler concurrency; every attempt is kept with its
// receipt. It returns (status, retry, err): nil err acknowledges the
// delivery, retry=false sends it straight to dead.
//
// Then either let hookgate serve (Listen, then Serve: the public listener,
// the admin API and the dispatcher, until the context ends), or mount
// Ingress in the application's own http.ServeMux (at "/webhooks/" and at
// any alias path the connections use) and run the dispatcher with Run.
// AdminHandler is the admin API, to mount elsewhere if wanted. A program
// that dispatches on its own schedule sets Options.NoDispatch and calls
// DispatchDue.
//
//	gw, err := gateway.NewFromFile(ctx, "hookgate.yaml", gateway.Options{
//		Handlers: map[string]hookgate.Sender{"audit": hookgate.SenderFunc(audit)},
//	})
//	…
//	mux.Handle("/webhooks/", gw.Ingress())
//	go gw.Run(ctx)
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/dispatch"
	"github.com/hookgate/hookgate/events"
	"github.com/hookgate/hookgate/handler/httpsend"
	"github.com/hookgate/hookgate/ingress"
	"github.com/hookgate/hookgate/metrics"
	"github.com/hookgate/hookgate/secrets"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/tracing"
)

// Options are the dependencies a caller may supply; zero values take defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (tests set it).
	Now func() time.Time
	// Store replaces the one opened from cfg.Storage.URL.
	Store hookgate.Store
	// HTTPClient is used by the http handlers of the configuration.
	// Handlers made at run time use a client of their own, whose every
	// connection is checked against allowed_destinations.
	HTTPClient *http.Client
	// Handlers are Go handlers by name, usable in the routes of cfg and of
	// stored connections from the start (Handle adds more later).
	Handlers map[string]hookgate.Sender
	// NoDispatch makes Serve run ingress and the admin API without the
	// dispatcher: receipts are stored and queued, and dispatched by another
	// instance sharing the store (PostgreSQL), or by the caller running Run.
	NoDispatch bool
}

// Gateway is a running hookgate.
type Gateway struct {
	cfg        *config.Config
	logger     *slog.Logger
	now        func() time.Time
	store      hookgate.Store
	ownStore   bool
	bus        *events.Bus
	httpClient *http.Client
	dispatcher *dispatch.Dispatcher
	tracer     *tracing.Tracer  // nil: tracing off
	inline     *dispatch.Inline // sync routes (sync.go)
	syncCount  *metrics.Sync
	noDispatch bool
	ingress    *ingress.Server
	metrics    *metrics.Metrics
	cert       *certificate // nil without tls
	// circuitFeed carries the handlers' circuit moves (circuits.go).
	circuitFeed *events.CircuitFeed
	maint       *maintenance // prune.go

	backfill backfillState // backfill.go

	mu    sync.Mutex // serialises connection changes, rebuilds, reloads and key rotation
	funcs map[string]hookgate.Sender
	// live is the configuration connections and handlers are compiled
	// from: cfg at start, then each file Reload accepted (under mu).
	live *config.Config
	snap atomic.Pointer[snapshot]
	// ownKeys fingerprints secrets when the store has no key (secrets.go).
	ownKeys *secrets.Keyring
	// dest is allowed_destinations of the configuration in force, and
	// guarded the client of run-time http handlers, which checks it on
	// every connection (handlers.go).
	dest    atomic.Pointer[httpsend.Destinations]
	guarded *http.Client
	// storedSum fingerprints the stored configuration the snapshot was
	// compiled from, so refreshStored rebuilds only when another instance
	// changed it (under mu).
	storedSum [32]byte
	// refusedSum is the last stored configuration refreshStored could not
	// compile, so it is reported once.
	refusedSum [32]byte
}

// New opens storage (running migrations) and compiles the configuration.
// Any invalid connection or handler in cfg is an error: hookgate fails closed.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	if errs := preflight(cfg); len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	g := &Gateway{
		cfg:        cfg,
		live:       cfg,
		logger:     opts.Logger,
		now:        opts.Now,
		store:      opts.Store,
		bus:        events.NewBus(),
		httpClient: opts.HTTPClient,
		noDispatch: opts.NoDispatch,
		funcs:      map[string]hookgate.Sender{},
	}
	for name, h := range opts.Handlers {
		g.funcs[name] = h
	}
	if g.logger == nil {
		g.logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	own, err := secrets.NewKey()
	if err != nil {
		return nil, err
	}
	g.ownKeys = secrets.NewKeyring(own)
	if g.now == nil {
		g.now = time.Now
	}
	if g.httpClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every dispatch worker may be talking to the same destination: keep
		// that many connections alive per host. Go's default keeps two, so
		// all other deliveries would open (and leave in TIME_WAIT) a new
		// TCP connection each.
		t.MaxIdleConnsPerHost = max(cfg.Dispatch.Workers, 2)
		t.MaxIdleConns = max(t.MaxIdleConns, 4*t.MaxIdleConnsPerHost)
		g.httpClient = &http.Client{Transport: t}
	}
	g.storeDestinations(cfg)
	g.guarded = httpsend.NewGuardedClient(g.dest.Load, nil, cfg.Dispatch.Workers)
	if g.store == nil {
		openURL, _ := cfg.Storage.OpenURL() // checked by preflight
		st, err := store.OpenWith(ctx, openURL, storeOptions(cfg))
		if err != nil {
			return nil, fmt.Errorf("open storage: %w", err)
		}
		g.store, g.ownStore = st, true
	}
	var queue metrics.QueueStats
	if qs, ok := g.store.(metrics.QueueStats); ok {
		queue = qs
	}
	g.metrics = metrics.New(queue, g.now)
	g.initBackfill()
	if wf, ok := g.store.(metrics.WriteFailures); ok {
		g.metrics.ObserveWriteFailures(wf)
	}
	if rc, ok := g.store.(metrics.ReceiptCounter); ok {
		g.metrics.ObserveReceipts(rc, g.now)
	}
	proxies, publicBase, err := network(cfg)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if g.cert, err = loadCertificate(cfg.TLS); err != nil {
		g.Close()
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if g.tracer, err = tracing.New(cfg.Tracing); err != nil {
		g.Close()
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	host, _ := os.Hostname()
	g.dispatcher = &dispatch.Dispatcher{
		Store:        g.store,
		Planner:      plannerFunc(func() dispatch.Planner { return g.snap.Load() }),
		Events:       g.bus,
		Logger:       g.logger,
		Now:          g.now,
		Owner:        fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8]),
		Workers:      cfg.Dispatch.Workers,
		Lease:        time.Duration(cfg.Dispatch.Lease),
		PollInterval: time.Duration(cfg.Dispatch.PollInterval),
		OnAttempt:    g.metrics.ObserveAttempt,
		OnProcessed:  g.metrics.ObserveProcessed,
	}
	if g.tracer != nil {
		g.dispatcher.Tracer = g.tracer
	}
	g.observeCircuits()
	g.syncRoutes(cfg)
	g.ingress = &ingress.Server{
		Dir:    dirFunc(func() ingress.Directory { return g.snap.Load() }),
		Store:  g.store,
		Events: g.bus,
		Logger: g.logger,
		Now:    g.now,
		NewID:  NewReceiptID,
		Notify: g.dispatcher.Notify,

		Proxies:       proxies,
		PublicBaseURL: publicBase,
		Observer:      g.metrics,
		Limits:        ingress.NewLimits(cfg.Limits.InflightBodyBytes, cfg.Limits.MaxConnections),
	}
	if g.tracer != nil {
		g.ingress.Tracer = g.tracer
	}
	g.ingress.LearnSecret = g.learnSecret
	g.ingress.Sync, g.ingress.OnSync = g.inline, g.observeSync
	g.maint = newMaintenance(g.metrics.Registry)
	g.ingress.OnRejected = g.maint.rejected
	g.bus.Observe(g.metrics.ObserveTransition)
	if err := g.rebuild(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// NewReceiptID returns a time-ordered UUIDv7 string.
func NewReceiptID() string { return uuid.Must(uuid.NewV7()).String() }

// NewFromFile reads the configuration file at path (config.Load: strict
// keys, ${ENV} expansion, defaults) and builds a Gateway from it as New
// does. An environment variable the file names but that is unset is an
// error: a secret would be empty.
func NewFromFile(ctx context.Context, path string, opts Options) (*Gateway, error) {
	cfg, missing, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s refers to unset environment variables: %s", path, strings.Join(missing, ", "))
	}
	return New(ctx, cfg, opts)
}

// Handle registers a Go handler under name, usable in routes like any
// configured handler, or replaces the one registered under that name. The
// handlers the configuration's routes name must be in Options.Handlers
// (New compiles the routes); Handle serves connections registered later.
// A name that the file or a run-time handler uses is refused, and nothing
// changes.
func (g *Gateway) Handle(name string, s hookgate.Sender) error {
	if s == nil {
		return fmt.Errorf("handler %q: nil Sender", name)
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("handler name %q must match %s", name, namePattern)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	prev, had := g.funcs[name]
	g.funcs[name] = s
	if err := g.rebuildLocked(context.Background()); err != nil {
		if had {
			g.funcs[name] = prev
		} else {
			delete(g.funcs, name)
		}
		return err
	}
	return nil
}

// DispatchDue delivers every receipt that is due now, as Run would, and
// returns how many dispatches it made: a handler that fails with retry is
// due again after its backoff, not within this call. It is for programs
// that dispatch on their own schedule (Options.NoDispatch, a job run by
// cron) and for tests that want dispatch to have happened before they look.
func (g *Gateway) DispatchDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := g.dispatcher.RunOnce(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// rebuild compiles config + stored connections and swaps the snapshot.
func (g *Gateway) rebuild(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rebuildLocked(ctx)
}

func (g *Gateway) rebuildLocked(ctx context.Context) error {
	stored, err := g.loadStored(ctx)
	if err != nil {
		return err
	}
	snap, errs := g.compile(g.live, stored)
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	g.swapSnapshot(snap)
	g.storedSum = stored.sum()
	return nil
}

// storeOptions are the storage settings of cfg: the secret key, required
// (PostgreSQL has no default key file).
func storeOptions(cfg *config.Config) store.Options {
	return store.Options{
		SecretKey:     cfg.Storage.SecretKey,
		SecretKeyFile: cfg.Storage.SecretKeyFile,
		RequireKey:    true,
	}
}

// Store returns the gateway's store.
func (g *Gateway) Store() hookgate.Store { return g.store }

// Events returns the transition bus.
func (g *Gateway) Events() *events.Bus { return g.bus }

// Dispatcher returns the dispatcher, for hookgate's own tests and tools;
// an application uses Run, Serve or DispatchDue.
func (g *Gateway) Dispatcher() *dispatch.Dispatcher { return g.dispatcher }

// Ingress returns the public receiver, the http.Handler of SPEC §2: mount
// it at "/webhooks/" (and at the connections' alias paths, or at "/") of
// the application's own server; it answers 404 for paths it does not know.
// The connection limit (limits.max_connections) applies only when Serve
// owns the listener; set the server's own timeouts.
func (g *Gateway) Ingress() http.Handler { return g.ingress }

// Connections returns every active connection, file-defined ones first.
func (g *Gateway) Connections() []*hookgate.Connection {
	snap := g.snap.Load()
	out := make([]*hookgate.Connection, 0, len(snap.byName))
	for _, ep := range snap.byName {
		out = append(out, ep.Conn)
	}
	return out
}

// Connection returns one connection by type and name.
func (g *Gateway) Connection(typ, name string) (*hookgate.Connection, error) {
	ep, ok := g.snap.Load().byName[name]
	if !ok || ep.Conn.Type != typ {
		return nil, hookgate.Errorf(hookgate.ENotFound, "no connection %s/%s", typ, name)
	}
	return ep.Conn, nil
}

// AddConnection validates and stores a run-time connection.
func (g *Gateway) AddConnection(ctx context.Context, c *hookgate.Connection) error {
	return g.changeConnection(ctx, c, func() error { return g.store.CreateConnection(ctx, c) })
}

// UpdateConnection replaces a run-time connection. Un-pausing it schedules
// every receipt it held.
func (g *Gateway) UpdateConnection(ctx context.Context, c *hookgate.Connection) error {
	var wasPaused bool
	if ep, ok := g.snap.Load().byName[c.Name]; ok {
		wasPaused = ep.Conn.Paused
	}
	if err := g.changeConnection(ctx, c, func() error { return g.store.UpdateConnection(ctx, c) }); err != nil {
		return err
	}
	if wasPaused && !c.Paused {
		return g.resumeHeld(ctx, c.Name)
	}
	return nil
}

// resumeHeld schedules the held receipts of a connection for dispatch.
func (g *Gateway) resumeHeld(ctx context.Context, name string) error {
	for {
		held, _, err := g.store.Receipts(ctx, hookgate.ReceiptFilter{Connection: name, Status: hookgate.StatusHeld, Limit: 500})
		if err != nil {
			return fmt.Errorf("resume held receipts: %w", err)
		}
		if len(held) == 0 {
			return nil
		}
		for _, r := range held {
			if _, err := g.Replay(ctx, r.ID); err != nil {
				return fmt.Errorf("resume held receipt %s: %w", r.ID, err)
			}
		}
	}
}

func (g *Gateway) changeConnection(ctx context.Context, c *hookgate.Connection, write func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.ReadOnly = false
	snap := g.snap.Load()
	if ep, ok := snap.byName[c.Name]; ok && ep.Conn.ReadOnly {
		return hookgate.Errorf(hookgate.EReadOnly, "connection %q is defined in the config file and is read-only here", c.Name)
	}
	// Validate against everything else first, so a bad connection is never stored.
	stored, err := g.loadStored(ctx)
	if err != nil {
		return &hookgate.Error{Code: hookgate.EUnavailable, Message: "storage unavailable", Err: err}
	}
	others := make([]*hookgate.Connection, 0, len(stored.connections)+1)
	for _, s := range stored.connections {
		if s.Name != c.Name {
			others = append(others, s)
		}
	}
	stored.connections = append(others, c)
	if _, errs := g.compile(g.live, stored); len(errs) > 0 {
		return &hookgate.Error{Code: hookgate.EInvalid, Message: errors.Join(errs...).Error()}
	}
	if err := write(); err != nil {
		return err
	}
	return g.rebuildLocked(ctx)
}

// DeleteConnection removes a run-time connection. Its receipts stay.
func (g *Gateway) DeleteConnection(ctx context.Context, typ, name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ep, ok := g.snap.Load().byName[name]; ok && ep.Conn.ReadOnly && ep.Conn.Type == typ {
		return hookgate.Errorf(hookgate.EReadOnly, "connection %q is defined in the config file and is read-only here", name)
	}
	if err := g.store.DeleteConnection(ctx, typ, name); err != nil {
		return err
	}
	return g.rebuildLocked(ctx)
}

// Replay schedules a receipt for dispatch again and wakes the dispatcher.
func (g *Gateway) Replay(ctx context.Context, id string) (hookgate.Transition, error) {
	tr, err := g.store.Replay(ctx, id, g.now())
	if err != nil {
		return tr, err
	}
	g.bus.Publish(tr)
	g.dispatcher.Notify()
	return tr, nil
}

// Run dispatches, prunes, and picks up the connections and handlers other
// instances store, until ctx is cancelled.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.pruneLoop(ctx) }()
	go func() { defer wg.Done(); g.refreshLoop(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); g.backfillLoop(ctx) }()
	err := g.dispatcher.Run(ctx)
	g.inline.Wait() // sync routes' runs that outlived their request
	wg.Wait()
	return err
}

// Metrics returns the gateway's metrics (served at /metrics on the admin listener).
func (g *Gateway) Metrics() *metrics.Metrics { return g.metrics }

// Close exports the spans still buffered, closes the handlers' broker
// connections and releases storage opened by New.
func (g *Gateway) Close() error {
	if g.tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := g.tracer.Shutdown(ctx); err != nil {
			g.logger.Warn("export the last traces", "err", err)
		}
		cancel()
	}
	g.closeDestinations()
	if g.ownStore {
		return g.store.Close()
	}
	return nil
}

type plannerFunc func() dispatch.Planner

func (f plannerFunc) Plan(r *hookgate.Receipt) ([]dispatch.Target, hookgate.Status, error) {
	return f().Plan(r)
}

type dirFunc func() ingress.Directory

func (f dirFunc) Lookup(path string) (*ingress.Endpoint, error) { return f().Lookup(path) }
func (f dirFunc) Enabled() bool                                 { return f().Enabled() }
