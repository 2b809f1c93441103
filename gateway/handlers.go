package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/handler/httpsend"
	"github.com/hookgate/hookgate/handler/logsend"
)

// Where a handler is defined (admin.HandlerInfo.Source).
const (
	sourceFile    = "file"
	sourceCode    = "code"
	sourceAPI     = "api"
	sourceBuiltin = "builtin"
)

// LogHandler is the name of the log handler every gateway has, so that a
// connection registered on a server without a config file has somewhere to
// go (`hookgate connections add … --handler log`). A handler of that name
// in the file or in code takes its place.
const LogHandler = "log"

// storedRefreshInterval is how often a running gateway reads the stored
// connections and handlers, to pick up those another instance sharing the
// database (PostgreSQL) registered, changed or removed.
const storedRefreshInterval = 5 * time.Second

// storedConfig is what the database holds: run-time connections and handlers.
type storedConfig struct {
	connections []*hookgate.Connection
	handlers    []*hookgate.HandlerConfig
}

func (g *Gateway) loadStored(ctx context.Context) (storedConfig, error) {
	cs, err := g.store.Connections(ctx)
	if err != nil {
		return storedConfig{}, fmt.Errorf("load stored connections: %w", err)
	}
	hs, err := g.store.Handlers(ctx)
	if err != nil {
		return storedConfig{}, fmt.Errorf("load stored handlers: %w", err)
	}
	return storedConfig{connections: cs, handlers: hs}, nil
}

// sum fingerprints the stored configuration, secrets included (a secret
// changed elsewhere must be picked up too). It never leaves the process.
func (st storedConfig) sum() [32]byte {
	type withSecret struct {
		hookgate.HandlerConfig
		Secret string `json:"signing_secret"`
	}
	hs := make([]withSecret, 0, len(st.handlers))
	for _, h := range st.handlers {
		hs = append(hs, withSecret{*h, h.SigningSecret})
	}
	b, _ := json.Marshal(struct {
		C []*hookgate.Connection
		H []withSecret
	}{st.connections, hs})
	return sha256.Sum256(b)
}

// compileStoredHandlers compiles the handlers made at run time into
// handlers, which holds those of code and file already: a stored handler
// may not take their names.
func (g *Gateway) compileStoredHandlers(cfg *config.Config, stored []*hookgate.HandlerConfig, handlers map[string]*compiledHandler) []error {
	var errs []error
	for _, h := range stored {
		if prev, dup := handlers[h.Name]; dup {
			errs = append(errs, fmt.Errorf("handler name %q is used twice: it is %s, and a handler of that name is stored in the database (made at run time); "+
				"to keep the other, start hookgate without it and run \"hookgate handlers rm %s\", or rename one of them", h.Name, describeSource(prev.source), h.Name))
			continue
		}
		ch, err := g.compileRuntimeHandler(cfg, *h)
		if err != nil {
			errs = append(errs, fmt.Errorf("handler %q (stored in the database): %w", h.Name, err))
			continue
		}
		handlers[h.Name] = ch
	}
	return errs
}

// compileRuntimeHandler compiles a handler made through the admin API: an
// http handler whose every connection goes through the allowed_destinations
// check (g.guarded).
func (g *Gateway) compileRuntimeHandler(cfg *config.Config, h hookgate.HandlerConfig) (*compiledHandler, error) {
	if h.Type != "http" {
		return nil, fmt.Errorf("type %q cannot be made at run time: only http handlers can, and other types need the config file", h.Type)
	}
	ch, err := g.compileHandler(cfg, h)
	if err != nil {
		return nil, err
	}
	hs, ok := ch.sender.(*httpsend.Sender)
	if !ok || g.guarded == nil {
		// Fail closed: an unguarded run-time handler could reach any
		// address the server can.
		return nil, fmt.Errorf("internal error: the http handler cannot be bound to allowed_destinations")
	}
	hs.Client = g.guarded
	ch.source = sourceAPI
	return ch, nil
}

// addBuiltins adds the log handler unless code or the file defines one.
func addBuiltins(g *Gateway, handlers map[string]*compiledHandler) {
	if _, ok := handlers[LogHandler]; !ok {
		handlers[LogHandler] = &compiledHandler{
			cfg:     hookgate.HandlerConfig{Name: LogHandler, Type: "log"},
			sender:  &logsend.Sender{Name: LogHandler, Logger: g.logger},
			timeout: defaultHandlerTimeout,
			source:  sourceBuiltin,
		}
	}
}

func describeSource(source string) string {
	switch source {
	case sourceFile:
		return "defined in the config file"
	case sourceCode:
		return "a Go handler registered in code"
	case sourceBuiltin:
		return "built in"
	}
	return "stored in the database (made at run time)"
}

// storeDestinations puts cfg's allowed_destinations in force (preflight
// has parsed them already) and drops the run-time handlers' idle
// connections, which were checked against the previous list.
func (g *Gateway) storeDestinations(cfg *config.Config) {
	d, err := httpsend.ParseDestinations(cfg.AllowedDestinations)
	if err != nil {
		d = nil // allows nothing; preflight refuses such a file anyway
	}
	g.dest.Store(d)
	if g.guarded != nil {
		g.guarded.CloseIdleConnections()
	}
}

// validateRuntimeHandler checks what only a handler made at run time must
// satisfy, before it is compiled with the rest.
func (g *Gateway) validateRuntimeHandler(h *hookgate.HandlerConfig) error {
	if !namePattern.MatchString(h.Name) {
		return hookgate.Errorf(hookgate.EInvalid, "handler name %q must match %s", h.Name, namePattern)
	}
	if h.Type != "http" {
		return hookgate.Errorf(hookgate.EInvalid, "handler type %q cannot be made at run time: only http handlers can; other types need the config file", h.Type)
	}
	if err := g.dest.Load().CheckURL(h.URL); err != nil {
		return hookgate.Errorf(hookgate.EInvalid, "handler %q: %v", h.Name, err)
	}
	if h.SigningSecret == "" && g.live.SigningSecret == "" && !g.live.UnsignedForwarding {
		return hookgate.Errorf(hookgate.EInvalid, "handler %q would forward requests unsigned: give it a signing_secret, or set the top-level signing_secret in the config file", h.Name)
	}
	return nil
}

// readOnly refuses a change to a handler that is not one made at run time.
func readOnly(snap *snapshot, name string) error {
	if ch, ok := snap.handlers[name]; ok && ch.source != sourceAPI {
		return hookgate.Errorf(hookgate.EReadOnly, "handler %q is %s and is read-only here", name, describeSource(ch.source))
	}
	return nil
}

// AddHandler validates and stores a handler made at run time (SPEC §6):
// an http handler whose URL is inside allowed_destinations.
func (g *Gateway) AddHandler(ctx context.Context, h *hookgate.HandlerConfig) error {
	return g.changeHandler(ctx, h, func() error { return g.store.CreateHandler(ctx, h) })
}

// UpdateHandler replaces a handler made at run time.
func (g *Gateway) UpdateHandler(ctx context.Context, h *hookgate.HandlerConfig) error {
	return g.changeHandler(ctx, h, func() error { return g.store.UpdateHandler(ctx, h) })
}

func (g *Gateway) changeHandler(ctx context.Context, h *hookgate.HandlerConfig, write func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := readOnly(g.snap.Load(), h.Name); err != nil {
		return err
	}
	if err := g.validateRuntimeHandler(h); err != nil {
		return err
	}
	stored, err := g.loadStored(ctx)
	if err != nil {
		return &hookgate.Error{Code: hookgate.EUnavailable, Message: "storage unavailable", Err: err}
	}
	others := make([]*hookgate.HandlerConfig, 0, len(stored.handlers)+1)
	for _, s := range stored.handlers {
		if s.Name != h.Name {
			others = append(others, s)
		}
	}
	stored.handlers = append(others, h)
	if _, errs := g.compile(g.live, stored); len(errs) > 0 {
		return &hookgate.Error{Code: hookgate.EInvalid, Message: errors.Join(errs...).Error()}
	}
	if err := write(); err != nil {
		return err
	}
	return g.rebuildLocked(ctx)
}

// DeleteHandler removes a handler made at run time. One that a
// connection's route names cannot be removed (EConflict, naming them).
func (g *Gateway) DeleteHandler(ctx context.Context, name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	snap := g.snap.Load()
	if err := readOnly(snap, name); err != nil {
		return err
	}
	if users := usersOf(snap, name); len(users) > 0 {
		return hookgate.Errorf(hookgate.EConflict, "handler %q is in the routes of connections %s: take it out of their routes first", name, strings.Join(users, ", "))
	}
	if err := g.store.DeleteHandler(ctx, name); err != nil {
		return err
	}
	return g.rebuildLocked(ctx)
}

// usersOf lists the connections whose routes name handler, sorted.
func usersOf(snap *snapshot, handler string) []string {
	var users []string
	for name, ep := range snap.byName {
		for _, r := range ep.Conn.Routes {
			if slices.Contains(r.Handlers, handler) {
				users = append(users, ep.Conn.Type+"/"+name)
				break
			}
		}
	}
	slices.Sort(users)
	return users
}

// Handler returns one handler's configuration, signing secret included
// (the caller shows it only by fingerprint), and where it is defined.
func (g *Gateway) Handler(name string) (hookgate.HandlerConfig, string, error) {
	ch, ok := g.snap.Load().handlers[name]
	if !ok {
		return hookgate.HandlerConfig{}, "", hookgate.Errorf(hookgate.ENotFound, "no handler %q", name)
	}
	return ch.cfg, ch.source, nil
}

// refreshLoop runs refreshStored every storedRefreshInterval until ctx ends.
func (g *Gateway) refreshLoop(ctx context.Context) {
	t := time.NewTicker(storedRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.refreshStored(ctx); err != nil && ctx.Err() == nil {
				g.logger.Warn("stored connections and handlers changed but do not compile; the running ones stay in force", "err", err)
			}
		}
	}
}

// refreshStored rebuilds the snapshot when the stored connections or
// handlers differ from those it was compiled from: another instance
// sharing the database changed them. A stored configuration that does not
// compile is reported once and the running one stays.
func (g *Gateway) refreshStored(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	stored, err := g.loadStored(ctx)
	if err != nil {
		return err
	}
	sum := stored.sum()
	if sum == g.storedSum || sum == g.refusedSum {
		return nil
	}
	snap, errs := g.compile(g.live, stored)
	if len(errs) > 0 {
		g.refusedSum = sum
		return errors.Join(errs...)
	}
	g.snap.Store(snap)
	g.storedSum = sum
	return nil
}
