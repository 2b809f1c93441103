package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/backfill"
	"github.com/hookgate/hookgate/ingress"
	"github.com/hookgate/hookgate/metrics"
	"github.com/hookgate/hookgate/verify"
)

// backfillStore is what a store offers backfill (store.DB does).
type backfillStore interface {
	StoredNonces(ctx context.Context, connection string, since time.Time, nonces []string) (map[string]bool, error)
	TakeBackfillLease(ctx context.Context, connection, owner string, now, until time.Time) (bool, error)
}

// backfillState is the gateway's side of backfill: its metrics, the
// lease owner id of this process, when each connection runs next, and the
// clock and HTTP client of the sources (tests set them).
type backfillState struct {
	metrics *metrics.Backfill
	owner   string
	mu      sync.Mutex
	next    map[string]time.Time
	client  backfill.Client
}

func (g *Gateway) initBackfill() {
	b := &g.backfill
	b.metrics = g.metrics.NewBackfill()
	b.owner = uuid.NewString()
	b.next = map[string]time.Time{}
	b.client.Now = g.now
}

func (g *Gateway) backfillState() *backfillState { return &g.backfill }

// SetBackfillClient replaces the HTTP client, clock and waits of backfill
// sources (tests: a clock that does not sleep).
func (g *Gateway) SetBackfillClient(c backfill.Client) {
	b := g.backfillState()
	b.client = c
	if b.client.Now == nil {
		b.client.Now = g.now
	}
}

// Backfill compares what the provider of connection sent since since with
// the receipts stored, and recovers the gaps unless dryRun (SPEC §4.5).
// The connection must configure backfill and be of a provider with a
// listing API (github, stripe).
func (g *Gateway) Backfill(ctx context.Context, connection string, since time.Time, dryRun bool) (backfill.Report, error) {
	ep, ok := g.snap.Load().byName[connection]
	if !ok {
		return backfill.Report{}, hookgate.Errorf(hookgate.ENotFound, "connection %s not found", connection)
	}
	src, err := g.backfillSource(ep)
	if err != nil {
		return backfill.Report{}, err
	}
	bs, ok := g.store.(backfillStore)
	if !ok {
		return backfill.Report{}, hookgate.Errorf(hookgate.EInvalid, "this store does not support backfill")
	}
	b := g.backfillState()
	rep, err := backfill.Run(ctx, connection, src, bs.StoredNonces, since, dryRun)
	b.metrics.Recovered(connection, src.Provider(), rep.Recovered)
	fails := len(rep.Errors)
	if err != nil {
		fails++
	}
	if fails > 0 {
		b.metrics.Errors(connection, src.Provider(), fails)
	}
	if err != nil {
		return rep, &hookgate.Error{Code: hookgate.EUnavailable, Message: "backfill of " + connection + " failed: " + err.Error(), Err: err}
	}
	g.logger.Info("backfill", "connection", connection, "provider", rep.Provider, "since", rep.Since, "dry_run", dryRun,
		"listed", rep.Listed, "missing", len(rep.Missing), "recovered", rep.Recovered, "duplicates", rep.Duplicates, "errors", len(rep.Errors))
	return rep, nil
}

// backfillSource builds the connection's Source.
func (g *Gateway) backfillSource(ep *ingress.Endpoint) (backfill.Source, error) {
	conn := ep.Conn
	cfg := conn.Backfill
	if cfg == nil {
		return nil, hookgate.Errorf(hookgate.EInvalid, "connection %s has no backfill configured", conn.Name)
	}
	client := g.backfillState().client
	switch conn.Type {
	case "github":
		return &backfill.GitHub{Client: client, BaseURL: cfg.APIBaseURL, Token: cfg.APIToken, Hook: cfg.Hook}, nil
	case "stripe":
		return &backfill.Stripe{Client: client, BaseURL: cfg.APIBaseURL, Key: cfg.APIToken,
			Ingest: func(ctx context.Context, body []byte) (bool, error) { return g.ingestBackfilled(ctx, ep, body) }}, nil
	}
	return nil, hookgate.Errorf(hookgate.EInvalid, "backfill is not available for %s connections (no listing API supported)", conn.Type)
}

// checkBackfill checks a connection's backfill config. Connections
// registered at run time cannot carry one: its api_token is a credential
// that is kept in the config file (from the environment), never stored.
func checkBackfill(c *hookgate.Connection, stored bool) error {
	cfg := c.Backfill
	if cfg == nil {
		return nil
	}
	switch {
	case stored:
		return fmt.Errorf("backfill can be configured in the config file only (its api_token is a credential hookgate does not store)")
	case c.Type != "github" && c.Type != "stripe":
		return fmt.Errorf("backfill is available for github and stripe connections, not %s (no listing API supported)", c.Type)
	case cfg.APIToken == "":
		return fmt.Errorf("backfill.api_token is required (if it is ${ENV}, is the variable set?)")
	case cfg.Every < 0 || cfg.Lookback < 0:
		return fmt.Errorf("backfill.every and backfill.lookback must not be negative")
	case c.Type == "github" && !backfill.ValidHook(cfg.Hook):
		return fmt.Errorf("backfill.hook %q: want repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app", cfg.Hook)
	case c.Type == "stripe" && cfg.Hook != "":
		return fmt.Errorf("backfill.hook is for github connections only")
	}
	if cfg.APIBaseURL != "" {
		u, err := url.Parse(cfg.APIBaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("backfill.api_base_url %q must be an http(s) URL", cfg.APIBaseURL)
		}
	}
	return nil
}

// ingestBackfilled stores an event fetched from the provider's API as a
// receipt marked source=backfill, through the path of a delivery
// (Endpoint.Accept, then Store.Ingest): same envelope check, event type,
// nonce and idempotency key, so it dedupes against a live delivery in
// either order. Nothing is verified: the authenticated API call is its
// authenticity.
func (g *Gateway) ingestBackfilled(ctx context.Context, ep *ingress.Endpoint, body []byte) (bool, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	rc, err := ep.Accept(h, body, verify.Result{})
	if err != nil {
		return false, err
	}
	rc.ID, rc.ReceivedAt, rc.Headers, rc.Source = NewReceiptID(), g.now(), h, hookgate.SourceBackfill
	tr, err := g.store.Ingest(ctx, rc, ep.IdempotencyTTL)
	if err != nil {
		return false, err
	}
	g.bus.Publish(tr)
	if rc.Status == hookgate.StatusReceived {
		g.dispatcher.Notify()
	}
	return rc.Status != hookgate.StatusDuplicate, nil
}

// backfillEvery is how often the background loop looks for a connection
// whose backfill is due.
const backfillEvery = 30 * time.Second

// backfillLoop runs each connection's background backfill every `every`.
func (g *Gateway) backfillLoop(ctx context.Context) {
	t := time.NewTicker(backfillEvery)
	defer t.Stop()
	for {
		g.backfillDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backfillDue runs the backfill of every connection that is due, over its
// lookback. With several instances on one database, the instance that takes
// the connection's lease (held for `every`) runs it; the others skip it.
func (g *Gateway) backfillDue(ctx context.Context) {
	bs, ok := g.store.(backfillStore)
	if !ok {
		return
	}
	b := g.backfillState()
	for _, c := range g.Connections() {
		cfg := c.Backfill
		if cfg == nil || cfg.Every <= 0 || !c.IsEnabled() {
			continue
		}
		every := time.Duration(cfg.Every)
		now := g.now()
		b.mu.Lock()
		due := !now.Before(b.next[c.Name])
		if due {
			b.next[c.Name] = now.Add(every)
		}
		b.mu.Unlock()
		if !due {
			continue
		}
		took, err := bs.TakeBackfillLease(ctx, c.Name, b.owner, now, now.Add(every))
		if err != nil {
			g.logger.Warn("backfill lease", "connection", c.Name, "err", err)
			continue
		}
		if !took {
			continue // another instance runs it
		}
		lookback := time.Duration(cfg.Lookback)
		if lookback <= 0 {
			lookback = hookgate.DefaultBackfillLookback
		}
		if _, err := g.Backfill(ctx, c.Name, now.Add(-lookback), false); err != nil && ctx.Err() == nil {
			g.logger.Warn("backfill failed; the next run retries", "connection", c.Name, "err", err)
		}
	}
}
