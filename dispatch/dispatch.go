// Package dispatch takes due receipts from the store and delivers them to
// their route's handlers: leases, retry with backoff and jitter, dead-lettering.
// The receipt row is the job; there is no second queue.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hookgate/hookgate"
)

// Target is one handler of a receipt's route, resolved.
type Target struct {
	Name    string
	Sender  hookgate.Sender
	Retry   hookgate.RetryPolicy // defaults applied
	Timeout time.Duration
}

// Planner resolves what to do with a receipt now. It returns the ordered
// targets of the matching routes, or a status that ends dispatch without
// calling anyone: StatusFiltered (no route matches any more) or StatusHeld
// (the connection is paused). An error means the receipt cannot be
// dispatched (e.g. its connection was removed) and goes to dead.
type Planner interface {
	Plan(r *hookgate.Receipt) ([]Target, hookgate.Status, error)
}

// Publisher receives transitions after they are committed.
type Publisher interface {
	Publish(hookgate.Transition)
}

// Dispatcher runs the workers.
type Dispatcher struct {
	Store   hookgate.Store
	Planner Planner
	Events  Publisher
	Logger  *slog.Logger
	Now     func() time.Time
	// Owner identifies this process's leases.
	Owner string
	// Workers bounds receipts in flight.
	Workers int
	// Lease is how long a claim lasts before another worker may take over.
	Lease time.Duration
	// PollInterval is the idle wake-up for due retries.
	PollInterval time.Duration
	// Jitter returns a number in [0,1); nil uses math/rand.
	Jitter func() float64
	// OnAttempt, when set, is told about every attempt (metrics).
	OnAttempt func(hookgate.Attempt)
	// HeldBytes bounds the bodies of the receipts claimed and not yet
	// delivered (see Run); 0 means DefaultHeldBytes.
	HeldBytes int64

	wakeOnce sync.Once
	wake     chan struct{}
}

func (d *Dispatcher) init() {
	d.wakeOnce.Do(func() { d.wake = make(chan struct{}, 1) })
}

// DefaultHeldBytes is the bodies claimed and not yet delivered, at most.
const DefaultHeldBytes = 32 << 20

// firstClaim is how many receipts a claim asks for before the size of their
// bodies is known: what the first claim brings stays within the byte budget
// for bodies up to 2 MiB.
const firstClaim = 16

// Notify wakes an idle dispatcher because a job was committed.
func (d *Dispatcher) Notify() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx is cancelled, then delivers what it has claimed
// and waits for the deliveries in flight.
//
// Claims run ahead of the workers. A claim is one write of the store's group
// commit, so waiting for it with idle workers would leave them idle for a
// commit's round trip after every batch. Instead, while work keeps coming, the
// dispatcher claims in the background whenever fewer than half a batch of
// claimed receipts wait for a worker, so that up to twice Workers receipts are
// leased to this process at once: Workers being delivered, the rest next in
// line. Claiming ahead stops once a claim comes back short of what it asked
// for (the due queue is empty) until a new job is committed (Notify) or
// PollInterval passes (retries coming due); either one arriving while a claim
// runs brings another claim after it, since the running claim may have looked
// before that job was committed. Every receipt claimed holds its
// body until its delivery ends, so what is claimed is also bounded in bytes
// (HeldBytes): with 2 KiB bodies the workers are the bound, with 1 MiB ones
// about HeldBytes of them are delivered at once and none wait.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.init()
	workers := max(d.Workers, 1)
	type claimed struct {
		rs    []*hookgate.Receipt
		asked int
	}
	budget := d.HeldBytes
	if budget <= 0 {
		budget = DefaultHeldBytes
	}
	var (
		wg       sync.WaitGroup
		pending  []*hookgate.Receipt // claimed, waiting for a worker
		held     int64               // bytes of the bodies claimed and not yet delivered
		avg      int64               // mean body size of the last claim
		inflight int
		claiming bool // a claim is running
		more     = true
		// woken: a job was announced (or the poll interval passed) since
		// the running claim began, so that claim may not have seen it
		// even if it comes back short.
		woken   bool
		results = make(chan claimed, 1)
		done    = make(chan int64, 2*workers) // a delivery ended: its body's size
	)
	defer wg.Wait()
	timer := time.NewTimer(d.PollInterval)
	defer timer.Stop()
	// In-flight work finishes with its own deadline even when shutdown
	// begins, so the lease is released cleanly.
	work := context.WithoutCancel(ctx)
	start := func(r *hookgate.Receipt) {
		inflight++
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := d.attempt(work, r)
			// The worker bounds deliveries, not the wait for their
			// outcome to be committed: it is free once the handlers
			// answered, while the completion joins the next group commit
			// (the receipt stays leased until then, so nothing else
			// takes it). Only the receipt's names are kept for that: its
			// body is not held while the outcome commits.
			done <- int64(len(r.Body))
			d.complete(work, names(r), c)
		}()
	}
	stop, stopping := ctx.Done(), false
	for {
		for inflight < workers && len(pending) > 0 {
			r := pending[0]
			pending[0] = nil // the backing array must not keep the body
			pending = pending[1:]
			start(r)
		}
		if stopping && !claiming && len(pending) == 0 {
			return nil // and wg.Wait for the deliveries in flight
		}
		if !stopping && !claiming && more && len(pending) < max(1, workers/2) && held < budget {
			// Twice the workers at most, and the byte budget by the size
			// of the bodies claimed last; before that is known, a few
			// (firstClaim), whatever their size.
			n := 2*workers - inflight - len(pending)
			if avg > 0 {
				n = min(n, int((budget-held)/avg))
			} else {
				n = min(n, firstClaim)
			}
			n = max(n, 1)
			claiming, woken = true, false
			go func() {
				rs, trs, err := d.Store.Claim(work, d.Owner, n, d.Now(), d.Lease)
				if err != nil && ctx.Err() == nil {
					d.Logger.Error("claim receipts", "err", err)
				}
				d.publish(trs)
				results <- claimed{rs, n}
			}()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d.PollInterval)
		select {
		case <-stop:
			// Claim no more; deliver what is claimed (it is leased to
			// this process) and what is in flight.
			stop, stopping = nil, true
		case res := <-results:
			claiming = false
			pending = append(pending, res.rs...)
			more = len(res.rs) == res.asked || woken
			if len(res.rs) > 0 {
				var bytes int64
				for _, r := range res.rs {
					bytes += int64(len(r.Body))
				}
				held += bytes
				avg = max(1, bytes/int64(len(res.rs)))
			}
		case size := <-done:
			inflight--
			held -= size
		case <-d.wake:
			more, woken = true, true
		case <-timer.C:
			more, woken = true, true
		}
	}
}

// RunOnce claims one batch and dispatches it synchronously. Tests and
// `hookgate` maintenance commands call it directly.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	rs, trs, err := d.Store.Claim(ctx, d.Owner, max(d.Workers, 1), d.Now(), d.Lease)
	if err != nil {
		return 0, fmt.Errorf("claim receipts: %w", err)
	}
	d.publish(trs)
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); d.Process(ctx, r) }()
	}
	wg.Wait()
	return len(rs), nil
}

// Process dispatches one claimed receipt and records the outcome.
func (d *Dispatcher) Process(ctx context.Context, r *hookgate.Receipt) {
	d.complete(ctx, names(r), d.attempt(ctx, r))
}

// names is the part of a receipt that recording its outcome needs.
func names(r *hookgate.Receipt) *hookgate.Receipt {
	return &hookgate.Receipt{ID: r.ID, Connection: r.Connection, EventType: r.EventType}
}

// complete records the outcome c of a claimed receipt.
func (d *Dispatcher) complete(ctx context.Context, r *hookgate.Receipt, c hookgate.Completion) {
	trs, err := d.Store.Complete(ctx, d.Owner, c)
	if err != nil {
		if hookgate.ErrorCode(err) == hookgate.EConflict {
			d.Logger.Warn("lease lost before completion; another worker owns the receipt", "receipt", r.ID)
			return
		}
		d.Logger.Error("complete receipt; it will be retried when its lease expires", "receipt", r.ID, "err", err)
		return
	}
	d.publish(trs)
	level := slog.LevelInfo
	if c.Status == hookgate.StatusFailed || c.Status == hookgate.StatusDead {
		level = slog.LevelWarn // a destination failed: operators filter on WARN
	}
	d.Logger.Log(ctx, level, "receipt dispatched", "receipt", r.ID, "connection", r.Connection,
		"event_type", r.EventType, "status", c.Status, "reason", c.Reason)
}

func (d *Dispatcher) attempt(ctx context.Context, r *hookgate.Receipt) hookgate.Completion {
	c := hookgate.Completion{ReceiptID: r.ID}
	targets, status, err := d.Planner.Plan(r)
	if err != nil {
		c.Status, c.Reason, c.At = hookgate.StatusDead, "not dispatchable: "+err.Error(), d.Now()
		return c
	}
	if status != "" {
		c.Status, c.At = status, d.Now()
		return c
	}
	done := map[string]bool{}
	for _, a := range r.Attempts {
		if a.Round == r.Round && a.Outcome == hookgate.OutcomeSuccess {
			done[a.Handler] = true
		}
	}
	number := r.AttemptCount + 1
	var retryable, fatal []Target
	var firstErr string
	for _, t := range targets {
		if done[t.Name] {
			continue // succeeded earlier in this round; at-least-once, not at-least-twice
		}
		a := d.call(ctx, r, t, number)
		c.Attempts = append(c.Attempts, a)
		if d.OnAttempt != nil {
			d.OnAttempt(a)
		}
		switch a.Outcome {
		case hookgate.OutcomeFailure:
			retryable = append(retryable, t)
		case hookgate.OutcomeFatal:
			fatal = append(fatal, t)
		}
		if a.Outcome != hookgate.OutcomeSuccess && firstErr == "" {
			firstErr = t.Name + ": " + a.Error
		}
	}
	c.At = d.Now()
	switch {
	case len(fatal) > 0:
		c.Status, c.Reason = hookgate.StatusDead, "not retryable: "+firstErr
	case len(retryable) > 0:
		p := retryable[0].Retry
		if number >= p.MaxAttempts {
			c.Status, c.Reason = hookgate.StatusDead, fmt.Sprintf("retries exhausted after %d attempts: %s", number, firstErr)
			break
		}
		next := c.At.Add(d.Backoff(p, number))
		c.Status, c.Reason, c.NextAttemptAt = hookgate.StatusFailed, firstErr, &next
	default:
		c.Status = hookgate.StatusAcknowledged
	}
	return c
}

func (d *Dispatcher) call(ctx context.Context, r *hookgate.Receipt, t Target, number int) (a hookgate.Attempt) {
	a = hookgate.Attempt{Handler: t.Name, Round: r.Round, Number: number, StartedAt: d.Now()}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	defer func() {
		// A panicking Go handler is a failed attempt, not a dead worker.
		if p := recover(); p != nil {
			a.Outcome, a.Error, a.FinishedAt = hookgate.OutcomeFailure, fmt.Sprintf("handler panicked: %v", p), d.Now()
		}
	}()
	code, retry, err := t.Sender.Send(ctx, r)
	a.FinishedAt, a.StatusCode = d.Now(), code
	switch {
	case err == nil:
		a.Outcome = hookgate.OutcomeSuccess
	case retry || errors.Is(err, context.DeadlineExceeded):
		a.Outcome, a.Error = hookgate.OutcomeFailure, err.Error()
	default:
		a.Outcome, a.Error = hookgate.OutcomeFatal, err.Error()
	}
	return a
}

// Backoff is the wait before attempt n+1 after n failed attempts:
// initial × multiplier^(n-1), capped at max, with ±20% jitter (never above max).
func (d *Dispatcher) Backoff(p hookgate.RetryPolicy, n int) time.Duration {
	base := float64(p.InitialInterval) * math.Pow(p.Multiplier, float64(n-1))
	if limit := float64(p.MaxInterval); base > limit || math.IsInf(base, 0) {
		base = limit
	}
	j := rand.Float64
	if d.Jitter != nil {
		j = d.Jitter
	}
	wait := base * (0.8 + 0.4*j())
	return time.Duration(min(wait, float64(p.MaxInterval)))
}

func (d *Dispatcher) publish(trs []hookgate.Transition) {
	for _, t := range trs {
		d.Events.Publish(t)
	}
}
