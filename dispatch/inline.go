package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/hookgate/hookgate"
)

// Inline runs the handlers of a synchronous route's receipt in the request
// that brought it (SPEC §4.2 "Synchronous routes"), through the dispatcher's
// own per-handler path (attempt, call), so handler lanes, retries and
// whatever else a dispatch applies to a delivery apply to it too.
//
// Ingress stores the delivery with its job already leased to the
// dispatcher's Owner (hookgate.Store.IngestLeased), in the ingest's commit,
// so no dispatcher claims it meanwhile; the lease is renewed with the
// dispatcher's own while the run lasts, and a crash mid-run leaves a lease
// that expires (or that the next process takes over at start), after which
// the receipt is dispatched as usual. The outcome is recorded with Complete,
// as a dispatch records it: acknowledged, or failed with its retry.
//
// Sync work is bounded by Concurrency runs at once, counting a run from its
// slot's acquisition until its outcome is committed (past the answer when the
// handlers outlast the route's sync_timeout). Past the bound, Acquire says no
// and the route answers as an async one.
type Inline struct {
	D *Dispatcher
	// Concurrency bounds the runs at once; 0 means DefaultSyncConcurrency.
	Concurrency int

	once  sync.Once
	slots chan struct{}
	wg    sync.WaitGroup
}

// DefaultSyncConcurrency is limits.sync_concurrency's default.
const DefaultSyncConcurrency = 64

func (in *Inline) init() {
	in.once.Do(func() {
		n := in.Concurrency
		if n <= 0 {
			n = DefaultSyncConcurrency
		}
		in.slots = make(chan struct{}, n)
	})
}

// Acquire takes a slot of sync work without waiting, and reports false when
// every slot is taken. A slot taken is given back by Run when the run ends,
// or by Release when the delivery is not run.
func (in *Inline) Acquire() bool {
	in.init()
	select {
	case in.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release gives back a slot whose delivery was not run (it was a duplicate,
// or its write failed).
func (in *Inline) Release() { <-in.slots }

// Lease is the owner and the end of the lease to ingest a sync delivery
// with: the dispatcher's, which Run renews while it runs.
func (in *Inline) Lease(now time.Time) (owner string, until time.Time) {
	lease := in.D.Lease
	if lease <= 0 {
		lease = 30 * time.Second
	}
	return in.D.Owner, now.Add(lease)
}

// Run delivers r, ingested leased (see Lease), to its handlers and waits up
// to timeout for the pass to end. When every handler succeeded in time it
// answers the reply of the handler replyFrom ("" for the first) and true;
// otherwise (a handler failed, the receipt was deferred or filtered, or
// time ran out) false, and the caller answers as for an async route. The
// pass goes on after a timeout; its outcome is committed in the background,
// after which the slot is given back. r must stay untouched by the caller
// once Run is called: the pass may outlive the request.
func (in *Inline) Run(r *hookgate.Receipt, timeout time.Duration, replyFrom string) (hookgate.Reply, bool) {
	d := in.D
	d.hold([]*hookgate.Receipt{r})
	out := make(chan hookgate.Completion, 1)
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		defer in.Release()
		// The pass belongs to the receipt, not to the request: a sender
		// that hangs up does not cancel the handlers.
		ctx := context.Background()
		c := d.attempt(ctx, r, &d.lanes, max(d.Workers, 1))
		out <- c
		d.complete(ctx, ctx, names(r), c)
		d.drop(r.ID)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case c := <-out:
		return replyOf(c, replyFrom)
	case <-t.C:
		return hookgate.Reply{}, false
	}
}

// Wait waits for the runs in flight to commit their outcome.
func (in *Inline) Wait() { in.wg.Wait() }

// replyOf is the reply of handler name ("" for the first called) in a pass
// that acknowledged its receipt. A reply whose body was cut at the bound is
// no answer: the caller falls back rather than answer part of a body.
func replyOf(c hookgate.Completion, name string) (hookgate.Reply, bool) {
	if c.Deferred || c.Status != hookgate.StatusAcknowledged || len(c.Attempts) == 0 {
		return hookgate.Reply{}, false
	}
	for _, a := range c.Attempts {
		if name != "" && a.Handler != name {
			continue
		}
		if a.Outcome != hookgate.OutcomeSuccess || a.ReplyTruncated {
			return hookgate.Reply{}, false
		}
		if a.Reply == nil {
			return hookgate.Reply{StatusCode: a.StatusCode}, true
		}
		reply := *a.Reply
		reply.StatusCode = a.StatusCode
		return reply, true
	}
	return hookgate.Reply{}, false
}
