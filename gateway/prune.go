package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookgate/hookgate"
)

// Maintenance: what the store keeps is pruned in the background, in short
// transactions (a few hundred rows each, with a rest between them), never on
// the request path (SPEC §8, §9).
//
//   - Rejected receipts: ingress records a rejection with one insert and
//     tells the gateway (rejected). A connection with new rejections is
//     brought within its budget (rejectedBytes, rejectedReceipts) within
//     rejectedEvery, or at once when what it recorded since its last pass
//     passes a quarter of its byte budget, so the budget is overshot by a
//     bounded amount between passes.
//   - Retention: receipts done with dispatch and older than
//     webhooks.retention_days, and expired idempotency keys, every
//     retentionEvery.

// The budget of one connection's rejected receipts: the headers and bodies
// of the newest of them within rejectedBytes, and the newest rejectedReceipts
// of them at all (a rejected receipt without headers and body is roughly 1 KiB
// with its trace and index entries, so 10 MiB more). At the default recording
// rate of ingress (10 a second per connection) that is the last quarter of an
// hour of a forged flood; the rest is counted in metrics and in the
// aggregated log lines.
const (
	rejectedBytes    = 16 << 20
	rejectedReceipts = 10000
)

// recordedHeadersMax is what a rejected receipt's headers count for at most
// before the pass reads their real size (store caps them at 8 KiB).
const recordedHeadersMax = 8 << 10

const (
	rejectedEvery  = 5 * time.Second
	retentionEvery = 10 * time.Minute
	// rejectedSweepEvery is how often every active connection gets a pass,
	// with or without rejections seen here: on PostgreSQL another instance
	// (one serving ingress only, NoDispatch) may have recorded them.
	rejectedSweepEvery = time.Minute
)

// maintenance is the gateway's pruning state.
type maintenance struct {
	budget hookgate.RejectedBudget

	mu sync.Mutex
	// pending holds the connections with rejections since their last pass,
	// with the bytes recorded (an upper bound).
	pending map[string]int64
	kick    chan struct{}

	pruned *prometheus.CounterVec
}

func newMaintenance(reg prometheus.Registerer) *maintenance {
	m := &maintenance{
		budget:  hookgate.RejectedBudget{Bytes: rejectedBytes, Receipts: rejectedReceipts},
		pending: map[string]int64{},
		kick:    make(chan struct{}, 1),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_pruned_total",
			Help: "Rows pruned in the background, by kind: receipts past retention, expired idempotency keys, " +
				"rejected receipts deleted beyond the per-connection count, and rejected receipts whose headers " +
				"and body were dropped beyond the per-connection byte budget.",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.pruned)
	}
	return m
}

// rejected notes a rejected receipt recorded on connection (ingress calls it
// on the request path: O(1), never blocks).
func (m *maintenance) rejected(connection string, bodySize int) {
	m.mu.Lock()
	n := m.pending[connection] + int64(bodySize) + recordedHeadersMax
	m.pending[connection] = n
	m.mu.Unlock()
	if n > m.budget.Bytes/4 {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// pruneLoop runs the maintenance until ctx ends: the rejected budgets in a
// loop of their own, so that a long retention backlog never delays them.
func (g *Gateway) pruneLoop(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.rejectedLoop(ctx) }()
	defer wg.Wait()
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		g.pruneRetention(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rejectedLoop enforces the rejected budgets of connections with new
// rejections. At start, and every rejectedSweepEvery, every active
// connection gets a pass, for what a previous process or another instance
// recorded.
func (g *Gateway) rejectedLoop(ctx context.Context) {
	m := g.maint
	t := time.NewTicker(rejectedEvery)
	defer t.Stop()
	var swept time.Time
	for {
		if time.Since(swept) >= rejectedSweepEvery {
			m.mu.Lock()
			for _, c := range g.Connections() {
				if _, ok := m.pending[c.Name]; !ok {
					m.pending[c.Name] = 0
				}
			}
			m.mu.Unlock()
			swept = time.Now()
		}
		g.PruneRejected(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
	}
}

// PruneRejected brings every connection with rejections since its last pass
// within its budget of rejected receipts (the maintenance loop runs it; tests
// call it directly).
func (g *Gateway) PruneRejected(ctx context.Context) {
	m := g.maint
	m.mu.Lock()
	names := make([]string, 0, len(m.pending))
	for name := range m.pending {
		names = append(names, name)
	}
	clear(m.pending)
	m.mu.Unlock()
	for _, name := range names {
		dropped, deleted, err := g.store.PruneRejected(ctx, name, m.budget)
		m.pruned.WithLabelValues("rejected_bodies").Add(float64(dropped))
		m.pruned.WithLabelValues("rejected_receipts").Add(float64(deleted))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			g.logger.Error("prune rejected receipts", "connection", name, "err", err)
			m.mu.Lock()
			if _, ok := m.pending[name]; !ok {
				m.pending[name] = 0 // try again on the next pass
			}
			m.mu.Unlock()
			continue
		}
		if dropped+deleted > 0 {
			g.logger.Info("pruned rejected receipts beyond the connection's budget", "connection", name,
				"bodies_dropped", dropped, "receipts_deleted", deleted)
		}
	}
}

// pruneRetention deletes the receipts older than webhooks.retention_days that
// are done with dispatch, and the expired idempotency keys.
func (g *Gateway) pruneRetention(ctx context.Context) {
	now := g.now()
	if days := g.cfg.Webhooks.RetentionDays; days > 0 {
		n, err := g.store.PruneReceipts(ctx, now.Add(-time.Duration(days)*24*time.Hour))
		g.maint.pruned.WithLabelValues("receipts").Add(float64(n))
		if err != nil && ctx.Err() == nil {
			g.logger.Error("prune receipts past retention", "err", err)
		} else if n > 0 {
			g.logger.Info("pruned receipts past retention", "count", n, "retention_days", days)
		}
	}
	n, err := g.store.PruneIdempotencyKeys(ctx, now)
	g.maint.pruned.WithLabelValues("idempotency_keys").Add(float64(n))
	if err != nil && ctx.Err() == nil {
		g.logger.Error("prune idempotency keys", "err", err)
	} else if n > 0 {
		g.logger.Info("pruned expired idempotency keys", "count", n)
	}
}
