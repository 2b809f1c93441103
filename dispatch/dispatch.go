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
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
)

// Target is one handler of a receipt's route, resolved.
type Target struct {
	Name string
	// Type is the handler's type (http, exec, log, go, …), which names a
	// failure that carries no type of its own (see FailureType).
	Type    string
	Sender  hookgate.Sender
	Retry   hookgate.RetryPolicy // defaults applied
	Timeout time.Duration
	// Concurrency bounds this handler's deliveries in flight (its share of
	// the workers); 0 or more than Workers means Workers.
	Concurrency int
	// RateLimit bounds this handler's deliveries a second (ratelimit.go);
	// 0 means no limit.
	RateLimit float64
	// Circuit configures the handler's circuit breaker (circuit.go); zero
	// fields take the defaults.
	Circuit hookgate.Circuit
	// Body, when not nil, is the JSON body this handler gets instead of the
	// stored one (its route's transform), with Content-Type
	// application/json; the stored body never changes.
	Body []byte
}

// Planner resolves what to do with a receipt now. It returns the ordered
// targets of the matching routes, or a status that ends dispatch without
// calling anyone: StatusFiltered (no route matches any more) or StatusHeld
// (the connection is paused). An error means the receipt cannot be
// dispatched (e.g. its connection was removed) and goes to dead; with
// StatusDead, the error is the receipt's reason as it stands.
type Planner interface {
	Plan(r *hookgate.Receipt) ([]Target, hookgate.Status, error)
}

// AttemptTracer starts the span of one attempt; the context it answers
// carries the span to the handler (the http handler forwards it as
// traceparent), and end records the attempt's outcome.
type AttemptTracer interface {
	StartAttempt(ctx context.Context, r *hookgate.Receipt, handler string, number int) (context.Context, func(hookgate.Attempt))
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
	// Workers bounds receipts in flight, not counting the deliveries of
	// handlers whose share is full (see Run), and is each handler's share
	// unless its Concurrency is lower.
	Workers int
	// Lease is how long a claim lasts before another worker may take over.
	// Run renews the leases it holds every Lease/3, so it can be short: it
	// is how long a dead process's jobs wait on a shared store.
	Lease time.Duration
	// PollInterval is the idle wake-up for due retries.
	PollInterval time.Duration
	// Jitter returns a number in [0,1); nil uses math/rand.
	Jitter func() float64
	// OnAttempt, when set, is told about every attempt of r (metrics);
	// failure is the attempt's FailureType, empty when it succeeded.
	OnAttempt func(r *hookgate.Receipt, a hookgate.Attempt, failure string)
	// Tracer, when set, makes a span of every attempt (tracing).
	Tracer AttemptTracer
	// OnProcessed, when set, is told about every receipt whose outcome was
	// committed (not deferred), with the time from the dispatcher taking it
	// up to that commit (metrics).
	OnProcessed func(r *hookgate.Receipt, c hookgate.Completion, took time.Duration)
	// OnCircuit, when set, is told about every move of a handler's circuit
	// breaker (live stream, metrics), after it is written.
	OnCircuit func(hookgate.CircuitChange)
	// CircuitRefresh is how often Run reads the circuits other instances
	// may have changed; 0 means DefaultCircuitRefresh.
	CircuitRefresh time.Duration
	// HeldBytes bounds the bodies of the receipts claimed and not yet
	// delivered (see Run); 0 means DefaultHeldBytes.
	HeldBytes int64
	// MaxReplyBytes bounds the reply body kept with an attempt (reply.go);
	// 0 means DefaultMaxReplyBytes.
	MaxReplyBytes int64

	wakeOnce sync.Once
	wake     chan struct{}
	lanes    lanes

	heldMu sync.Mutex
	// held lists the receipts leased to Run, claimed and not yet completed:
	// true while their handlers run, false once their outcome is being
	// committed (a lease found gone then was released by that commit).
	held map[string]bool

	breakers       sync.Map // handler name → *breaker (circuit.go)
	circuitsOnce   sync.Once
	circuitsLoaded atomic.Bool
	limiters       sync.Map // handler name → *limiter (ratelimit.go)
}

func (d *Dispatcher) init() {
	d.wakeOnce.Do(func() {
		d.wake = make(chan struct{}, 1)
	})
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
//
// Each handler has a lane of its own, bounded by its Concurrency (Workers by
// default). A lane that is full and has ended no delivery for stuckAfter
// holds a slow or hanging destination: its deliveries stop counting against
// Workers (and their bodies against HeldBytes), so the other handlers'
// deliveries keep flowing. A receipt whose next handler's lane is full is
// deferred: it goes back to the queue for a short, growing wait (see
// minDeferral), keeping the handlers that succeeded, instead of holding a
// worker or the claim budget.
//
// Every lease Run holds is renewed every Lease/3 in one write, until the
// receipt's outcome is committed. At start Run takes over the leases a
// predecessor left in a store that one process owns (TakeOverLeases).
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
	if n, err := d.Store.TakeOverLeases(ctx, d.Owner); err != nil {
		d.Logger.Error("take over leases of an earlier process", "err", err)
	} else if n > 0 {
		d.Logger.Info("took over the leases an earlier process left; their receipts are due now", "receipts", n)
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
	// In-flight work finishes with its own deadline even when shutdown
	// begins, so the lease is released cleanly.
	work := context.WithoutCancel(ctx)
	renewStop, renewDone := make(chan struct{}), make(chan struct{})
	go d.renew(work, renewStop, renewDone)
	d.loadCircuits(work)
	circuitStop, circuitDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(circuitDone); d.refreshCircuits(work, circuitStop) }()
	defer func() {
		wg.Wait() // deliveries and their completions
		close(renewStop)
		close(circuitStop)
		<-renewDone
		<-circuitDone
	}()
	timer := time.NewTimer(d.PollInterval)
	defer timer.Stop()
	// A lane becomes stuck by time passing, not by an event.
	laneCheck := time.NewTicker(stuckAfter / 2)
	defer laneCheck.Stop()
	start := func(r *hookgate.Receipt) {
		inflight++
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			c := d.attempt(work, r, &d.lanes, workers)
			// The worker bounds deliveries, not the wait for their
			// outcome to be committed: it is free once the handlers
			// answered, while the completion joins the next group commit
			// (the receipt stays leased until then, so nothing else
			// takes it). Only the receipt's names are kept for that: its
			// body is not held while the outcome commits.
			done <- int64(len(r.Body))
			d.settle(r.ID)
			rn := names(r)
			if d.complete(work, ctx, rn, c) {
				d.processed(rn, c, began)
				d.deferredForCircuit(work, c)
			}
			d.drop(r.ID)
		}()
	}
	stop, stopping := ctx.Done(), false
	for {
		// The deliveries of stuck lanes are outside the shared pool.
		// Lanes measure real time: how long a destination has been silent
		// is not a business time a test clock may set.
		stuck, stuckBytes := d.lanes.stuck(time.Now())
		active := inflight - stuck
		for active < workers && len(pending) > 0 {
			r := pending[0]
			pending[0] = nil // the backing array must not keep the body
			pending = pending[1:]
			start(r)
			active++
		}
		if stopping && !claiming && len(pending) == 0 {
			return nil // and wait for the deliveries in flight
		}
		if !stopping && !claiming && more && len(pending) < max(1, workers/2) && held-stuckBytes < budget {
			// Twice the workers at most, and the byte budget by the size
			// of the bodies claimed last; before that is known, a few
			// (firstClaim), whatever their size.
			n := 2*workers - active - len(pending)
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
				d.hold(rs)
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
		case <-laneCheck.C:
			// A lane may have become stuck: its deliveries leave the pool.
		case <-d.wake:
			more, woken = true, true
		case <-timer.C:
			more, woken = true, true
		}
	}
}

// hold records receipts leased to this process, for renewal.
func (d *Dispatcher) hold(rs []*hookgate.Receipt) {
	if len(rs) == 0 {
		return
	}
	d.heldMu.Lock()
	if d.held == nil {
		d.held = map[string]bool{}
	}
	for _, r := range rs {
		d.held[r.ID] = true
	}
	d.heldMu.Unlock()
}

// settle marks a held receipt whose outcome is about to be committed: its
// lease is still renewed (a completion that retries a database error keeps
// it), but once that commit releases it, renewal finding it gone is no news.
func (d *Dispatcher) settle(id string) {
	d.heldMu.Lock()
	if _, ok := d.held[id]; ok {
		d.held[id] = false
	}
	d.heldMu.Unlock()
}

// drop ends the renewal of a receipt whose outcome is committed (or lost).
func (d *Dispatcher) drop(id string) {
	d.heldMu.Lock()
	delete(d.held, id)
	d.heldMu.Unlock()
}

// renew extends every lease held by this process, in one write, every
// Lease/3 until stop is closed, so that a delivery that runs long keeps its
// receipt and a process that dies loses its leases within Lease.
func (d *Dispatcher) renew(ctx context.Context, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	lease := d.Lease
	if lease <= 0 {
		return
	}
	tick := time.NewTicker(max(lease/3, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		d.heldMu.Lock()
		ids := make([]string, 0, len(d.held))
		for id := range d.held {
			ids = append(ids, id)
		}
		d.heldMu.Unlock()
		if len(ids) == 0 {
			continue
		}
		lost, err := d.Store.RenewLeases(ctx, d.Owner, ids, d.Now().Add(lease))
		if err != nil {
			// Two more tries before the leases expire.
			d.Logger.Error("renew leases", "receipts", len(ids), "err", err)
			continue
		}
		d.heldMu.Lock()
		for _, id := range lost {
			delivering, ok := d.held[id]
			if !ok {
				continue // completed and dropped since the snapshot
			}
			if delivering {
				// Taken over while its handlers run. A receipt whose
				// outcome is being committed lost its lease to that
				// commit; if it was taken over instead, the commit
				// finds out and says so.
				d.Logger.Warn("lease lost while the receipt was in flight; another worker may deliver it", "receipt", id)
			}
			delete(d.held, id)
		}
		d.heldMu.Unlock()
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

// Process dispatches one claimed receipt and records the outcome. It calls
// every handler whatever their lanes hold (it is for tests and maintenance).
func (d *Dispatcher) Process(ctx context.Context, r *hookgate.Receipt) {
	began := time.Now()
	rn, c := names(r), d.attempt(ctx, r, nil, 0)
	if d.complete(ctx, ctx, rn, c) {
		d.processed(rn, c, began)
		d.deferredForCircuit(ctx, c)
	}
}

// processed reports a committed outcome to OnProcessed; a deferral is no
// outcome (the receipt waits for a slot and is processed later).
func (d *Dispatcher) processed(r *hookgate.Receipt, c hookgate.Completion, began time.Time) {
	if d.OnProcessed != nil && !c.Deferred {
		d.OnProcessed(r, c, time.Since(began))
	}
}

// names is the part of a receipt that recording its outcome needs.
func names(r *hookgate.Receipt) *hookgate.Receipt {
	return &hookgate.Receipt{ID: r.ID, Connection: r.Connection, EventType: r.EventType}
}

// Completion retries: a completion that fails on a database error is tried
// again after completeRetry, doubling up to maxCompleteRetry, while the
// receipt's lease keeps being renewed; once the dispatcher stops, after
// completeTriesStopping tries it is left for the lease to expire.
const (
	completeRetry         = 50 * time.Millisecond
	maxCompleteRetry      = 5 * time.Second
	completeTriesStopping = 3
)

// complete records the outcome c of a claimed receipt. A database error does
// not leave the receipt waiting for its lease to expire: the write is tried
// again (see completeRetry) until it commits, the lease is found lost, or the
// dispatcher stops (stopping is done). It reports whether the outcome was
// committed.
func (d *Dispatcher) complete(ctx, stopping context.Context, r *hookgate.Receipt, c hookgate.Completion) bool {
	wait := completeRetry
	for try := 1; ; try++ {
		trs, err := d.Store.Complete(ctx, d.Owner, c)
		if err == nil {
			d.publish(trs)
			if c.Deferred {
				d.Logger.Debug("receipt deferred", "receipt", r.ID, "reason", c.Reason)
				return true
			}
			level := slog.LevelInfo
			if c.Status == hookgate.StatusFailed || c.Status == hookgate.StatusDead {
				level = slog.LevelWarn // a destination failed: operators filter on WARN
			}
			d.Logger.Log(ctx, level, "receipt dispatched", "receipt", r.ID, "connection", r.Connection,
				"event_type", r.EventType, "status", c.Status, "reason", c.Reason)
			return true
		}
		switch hookgate.ErrorCode(err) {
		case hookgate.EConflict:
			d.Logger.Warn("lease lost before completion; another worker owns the receipt", "receipt", r.ID)
			return false
		case hookgate.EInvalid, hookgate.ENotFound:
			d.Logger.Error("complete receipt", "receipt", r.ID, "err", err)
			return false
		}
		if stopping.Err() != nil && try >= completeTriesStopping {
			d.Logger.Error("complete receipt; it is dispatched again when its lease expires", "receipt", r.ID, "err", err)
			return false
		}
		d.Logger.Warn("complete receipt; trying again", "receipt", r.ID, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		wait = min(2*wait, maxCompleteRetry)
	}
}

// attempt calls the handlers of r that have not succeeded in its round, in
// order, and answers the outcome. With lanes, each call takes a slot of its
// handler's lane (bounded by the handler's Concurrency, at most workers); a
// receipt whose next handler's lane is full is deferred, unless a handler
// already failed in this pass (its retry then decides when the receipt runs
// again, and the busy handler is called on that retry).
func (d *Dispatcher) attempt(ctx context.Context, r *hookgate.Receipt, ls *lanes, workers int) hookgate.Completion {
	c := hookgate.Completion{ReceiptID: r.ID}
	targets, status, err := d.Planner.Plan(r)
	if err != nil {
		c.Status, c.Reason, c.At = hookgate.StatusDead, "not dispatchable: "+err.Error(), d.Now()
		c.FailureType = FailureUndeliverable
		if status == hookgate.StatusDead {
			// The planner's own reason: a failed schema or transform.
			c.Reason = err.Error()
			switch {
			case strings.HasPrefix(c.Reason, "validation_failed"):
				c.FailureType = FailureValidation
			case strings.HasPrefix(c.Reason, "transform_failed"):
				c.FailureType = FailureTransform
			}
		}
		return c
	}
	if status != "" {
		c.Status, c.At = status, d.Now()
		if status == hookgate.StatusFiltered {
			// The routes changed since ingest and none takes it now.
			c.Reason = rules.NoRouteReason(r.EventType)
		}
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
	d.loadCircuits(ctx)
	for _, t := range targets {
		if done[t.Name] {
			continue // succeeded earlier in this round; at-least-once, not at-least-twice
		}
		// An open circuit or a rate limit makes the receipt wait like a
		// full lane (below), unless a handler already failed in this pass.
		now := d.Now()
		if wait, ok := d.circuitGate(ctx, t, now); !ok {
			if len(retryable)+len(fatal) == 0 {
				return d.deferral(c, r, circuitReason(t.Name), wait)
			}
			break
		}
		if wait, ok := d.rateGate(t.Name, r.ID, t.RateLimit, now); !ok {
			if len(retryable)+len(fatal) == 0 {
				return d.deferral(c, r, fmt.Sprintf("waiting for handler %s: over its rate_limit of %g a second", t.Name, t.RateLimit), wait)
			}
			break
		}
		if ls != nil {
			limit := workers
			if t.Concurrency > 0 {
				limit = min(t.Concurrency, workers)
			}
			ok, wait := ls.acquire(t.Name, limit, int64(len(r.Body)), time.Now())
			if !ok && len(retryable)+len(fatal) == 0 {
				return d.deferral(c, r, fmt.Sprintf("waiting for handler %s: %d deliveries in flight (its concurrency)", t.Name, limit), wait)
			}
			if !ok {
				break
			}
		}
		a, failure := d.call(ctx, r, t, number)
		if ls != nil {
			ls.release(t.Name, int64(len(r.Body)), time.Now())
		}
		c.Attempts = append(c.Attempts, a)
		if d.OnAttempt != nil {
			d.OnAttempt(r, a, failure)
		}
		d.circuitRecord(ctx, t, a.Outcome != hookgate.OutcomeSuccess, a.FinishedAt)
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
		// Each failed handler by its own retry policy and its own
		// attempts in this round: the receipt is dead when one of them
		// has no attempt left, and due again when the first of them is.
		var next time.Time
		for _, t := range retryable {
			n := handlerAttempts(r, t.Name)
			if n >= t.Retry.MaxAttempts {
				c.Status, c.Reason = hookgate.StatusDead, fmt.Sprintf("retries exhausted after %d attempts: %s", n, t.Name+": "+failure(c.Attempts, t.Name))
				return c
			}
			if at := c.At.Add(d.Backoff(t.Retry, n)); next.IsZero() || at.Before(next) {
				next = at
			}
		}
		c.Status, c.Reason, c.NextAttemptAt = hookgate.StatusFailed, firstErr, &next
	default:
		c.Status = hookgate.StatusAcknowledged
	}
	return c
}

// handlerAttempts counts the attempts of handler on r in r's round, the one
// just made included.
func handlerAttempts(r *hookgate.Receipt, handler string) int {
	n := 1
	for _, a := range r.Attempts {
		if a.Handler == handler && a.Round == r.Round {
			n++
		}
	}
	return n
}

// failure is the error of handler's attempt among as.
func failure(as []hookgate.Attempt, handler string) string {
	for _, a := range as {
		if a.Handler == handler {
			return a.Error
		}
	}
	return ""
}

// deferral answers the deferral of r, whose next handler cannot take it now
// (its lane is full, its circuit open, or it is over its rate): back to the
// status it waits in, due after wait, with reason, keeping the attempts of c
// (the handlers that succeeded before).
func (d *Dispatcher) deferral(c hookgate.Completion, r *hookgate.Receipt, reason string, wait time.Duration) hookgate.Completion {
	c.Deferred, c.Status = true, hookgate.StatusReceived
	if r.AttemptCount > 0 {
		c.Status = hookgate.StatusFailed // waiting for a retry
	}
	c.At = d.Now()
	next := c.At.Add(wait)
	c.NextAttemptAt = &next
	c.Reason = reason
	return c
}

// call runs one attempt of t and answers it with its FailureType (empty on
// success).
func (d *Dispatcher) call(ctx context.Context, r *hookgate.Receipt, t Target, number int) (a hookgate.Attempt, failure string) {
	a = hookgate.Attempt{Handler: t.Name, Round: r.Round, Number: number, StartedAt: d.Now()}
	if d.Tracer != nil {
		var end func(hookgate.Attempt)
		ctx, end = d.Tracer.StartAttempt(ctx, r, t.Name, number)
		defer func() { end(a) }()
	}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	defer func() {
		// A panicking Go handler is a failed attempt, not a dead worker.
		if p := recover(); p != nil {
			a.Outcome, a.Error, a.FinishedAt = hookgate.OutcomeFailure, fmt.Sprintf("handler panicked: %v", p), d.Now()
			failure = "panic"
		}
	}()
	if t.Body != nil {
		transformed := *r
		transformed.Body = t.Body
		transformed.Headers = r.Headers.Clone()
		if transformed.Headers == nil {
			transformed.Headers = http.Header{}
		}
		transformed.Headers.Set("Content-Type", "application/json")
		r = &transformed
	}
	code, retry, err := d.send(ctx, t, r, &a)
	a.FinishedAt, a.StatusCode = d.Now(), code
	switch {
	case err == nil:
		a.Outcome = hookgate.OutcomeSuccess
	case retry || errors.Is(err, context.DeadlineExceeded):
		a.Outcome, a.Error = hookgate.OutcomeFailure, err.Error()
	default:
		a.Outcome, a.Error = hookgate.OutcomeFatal, err.Error()
	}
	if err != nil {
		failure = FailureType(t.Type, code, err)
	}
	return a, failure
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
