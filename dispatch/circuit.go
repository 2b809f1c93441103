package dispatch

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate"
)

// Circuit breakers (SPEC §4.2). Each handler has one: failure_threshold
// failed deliveries in a row open it, and while it is open the receipts that
// reach the handler are deferred (no attempt spent, never dead because of it)
// until reset_timeout has passed; then one delivery goes as the half-open
// probe, whose success closes the circuit and whose failure opens it again.
//
// The circuit lives in the store when the store keeps circuits
// (hookgate.CircuitStore): every instance sharing it sees the same circuit,
// a restart keeps it, and of several instances only one sends the probe.
// Each dispatcher holds a copy, so that a delivery to a handler whose circuit
// is closed and clean asks nothing but an atomic flag; the copy is updated by
// every change this dispatcher writes and read again from the store every
// CircuitRefresh (changes made by other instances).
//
// Every failed attempt counts, "do not retry" ones included: a destination
// that turns every receipt away (a broken deploy answering 400) is as
// unavailable as one that is down, and seed 002 counts validation failures.
// A success closes the circuit and resets the count.

// DefaultCircuitRefresh is how often a dispatcher reads the circuits other
// instances may have changed.
const DefaultCircuitRefresh = 2 * time.Second

// breaker is a dispatcher's copy of one handler's circuit.
type breaker struct {
	// clean: closed without failures. A delivery checks only this.
	clean atomic.Bool

	mu sync.Mutex
	st hookgate.CircuitStatus
	// rewake: the circuit closed lately; wake the receipts that wait for
	// it once more at the next refresh (one that was deferred while it
	// closed may have been written after the first wake).
	rewake bool
}

// circuitReason is the reason of a receipt waiting for name's circuit. It is
// also how a closing circuit finds the receipts to wake (Expedite).
func circuitReason(name string) string {
	return "waiting for handler " + name + ": its circuit is open"
}

func (d *Dispatcher) breaker(name string) *breaker {
	if v, ok := d.breakers.Load(name); ok {
		return v.(*breaker)
	}
	b := &breaker{st: hookgate.CircuitStatus{Handler: name, State: hookgate.CircuitClosed}}
	b.clean.Store(true)
	v, _ := d.breakers.LoadOrStore(name, b)
	return v.(*breaker)
}

func (d *Dispatcher) circuitStore() hookgate.CircuitStore {
	cs, _ := d.Store.(hookgate.CircuitStore)
	return cs
}

// set takes s as b's status unless b holds a newer one; it answers the status
// b held before.
func (b *breaker) set(s hookgate.CircuitStatus) (before hookgate.CircuitStatus, taken bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	before = b.st
	if s.Version < b.st.Version {
		return before, false
	}
	b.put(s)
	return before, true
}

// apply changes b's status in memory, for a dispatcher whose store keeps no
// circuits (or fails to answer), and answers the status before and after.
func (b *breaker) apply(change func(hookgate.CircuitStatus) hookgate.CircuitStatus) (before, after hookgate.CircuitStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	before = b.st
	after = change(before)
	b.put(after)
	return before, after
}

// put sets b's status; b.mu is held.
func (b *breaker) put(s hookgate.CircuitStatus) {
	if s.State == "" {
		s.State = hookgate.CircuitClosed
	}
	b.st = s
	b.clean.Store(s.Closed() && s.ConsecutiveFailures == 0)
}

// circuitGate answers whether a delivery to t may go at now; if not, how long
// its receipt should wait. A circuit due for its probe lets one delivery
// through as the probe.
func (d *Dispatcher) circuitGate(ctx context.Context, t Target, now time.Time) (time.Duration, bool) {
	b := d.breaker(t.Name)
	if b.clean.Load() {
		return 0, true
	}
	b.mu.Lock()
	st := b.st
	b.mu.Unlock()
	if st.Closed() {
		return 0, true
	}
	if now.Before(st.RetryAt) {
		return st.RetryAt.Sub(now), false
	}
	// The probe holds the circuit half open for as long as its delivery may
	// take and a little more: if its process dies, another instance sends
	// the next probe after that.
	window := t.Timeout + max(d.Lease, time.Second)
	var (
		before, after hookgate.CircuitStatus
		ok            bool
		err           error
	)
	cs := d.circuitStore()
	if cs != nil {
		if after, ok, err = cs.CircuitProbe(ctx, t.Name, now, window); err == nil {
			before, _ = b.set(after)
		} else {
			d.Logger.Error("ask the circuit for a probe; deciding in memory", "handler", t.Name, "err", err)
		}
	}
	if cs == nil || err != nil {
		before, after = b.apply(func(s hookgate.CircuitStatus) hookgate.CircuitStatus {
			s, ok = s.Probe(now, window)
			return s
		})
	}
	if ok {
		d.circuitChanged(ctx, before, after, now)
		return 0, true
	}
	return max(after.RetryAt.Sub(now), minDeferral), false
}

// circuitRecord counts the outcome of a delivery to t in its circuit.
func (d *Dispatcher) circuitRecord(ctx context.Context, t Target, failed bool, now time.Time) {
	b := d.breaker(t.Name)
	if !failed && b.clean.Load() {
		return
	}
	cfg := t.Circuit.WithDefaults()
	threshold, reset := cfg.FailureThreshold, time.Duration(cfg.ResetTimeout)
	change := func(s hookgate.CircuitStatus) hookgate.CircuitStatus {
		if failed {
			return s.Failed(now, threshold, reset)
		}
		return s.Succeeded()
	}
	var (
		before, after hookgate.CircuitStatus
		err           error
	)
	cs := d.circuitStore()
	if cs != nil {
		if failed {
			_, after, err = cs.CircuitFailed(ctx, t.Name, now, threshold, reset)
		} else {
			_, after, err = cs.CircuitSucceeded(ctx, t.Name)
		}
		if err == nil {
			// What this dispatcher saw before: another instance may
			// have moved the circuit since.
			before, _ = b.set(after)
		} else {
			d.Logger.Error("record the outcome in the handler's circuit; counting in memory", "handler", t.Name, "err", err)
		}
	}
	if cs == nil || err != nil {
		before, after = b.apply(change)
	}
	d.circuitChanged(ctx, before, after, now)
}

// circuitChanged announces a move of a circuit between states, and wakes the
// receipts waiting for a circuit that closed.
func (d *Dispatcher) circuitChanged(ctx context.Context, before, after hookgate.CircuitStatus, now time.Time) {
	from := before.State
	if from == "" {
		from = hookgate.CircuitClosed
	}
	if from == after.State {
		return
	}
	switch after.State {
	case hookgate.CircuitOpen:
		d.Logger.Warn("circuit opened; the handler's receipts wait", "handler", after.Handler,
			"consecutive_failures", after.ConsecutiveFailures, "retry_at", after.RetryAt)
	case hookgate.CircuitHalfOpen:
		d.Logger.Info("circuit half open; one delivery probes the handler", "handler", after.Handler)
	case hookgate.CircuitClosed:
		d.Logger.Info("circuit closed; the handler's receipts go again", "handler", after.Handler)
		d.wakeWaiting(ctx, after.Handler, now)
		b := d.breaker(after.Handler)
		b.mu.Lock()
		b.rewake = true
		b.mu.Unlock()
	}
	if d.OnCircuit != nil {
		d.OnCircuit(hookgate.CircuitChange{From: from, CircuitStatus: after, At: now})
	}
}

// deferredForCircuit runs after a deferral is committed: a receipt that
// was found waiting for a circuit which has closed since (a probe of the
// same claim succeeded while it was being deferred) may have been written
// after the closing circuit woke the waiting ones, so it is woken now. The
// check follows the commit, so a circuit that closes later wakes it itself.
func (d *Dispatcher) deferredForCircuit(ctx context.Context, c hookgate.Completion) {
	if !c.Deferred {
		return
	}
	name, ok := strings.CutPrefix(c.Reason, "waiting for handler ")
	if !ok {
		return
	}
	if name, ok = strings.CutSuffix(name, ": its circuit is open"); !ok {
		return
	}
	b := d.breaker(name)
	b.mu.Lock()
	closed := b.st.State == hookgate.CircuitClosed || b.st.State == ""
	b.mu.Unlock()
	if closed {
		d.wakeWaiting(ctx, name, d.Now())
	}
}

// wakeWaiting makes the receipts that wait for handler's circuit due now.
func (d *Dispatcher) wakeWaiting(ctx context.Context, handler string, now time.Time) {
	cs := d.circuitStore()
	if cs == nil {
		return // they come back when their wait ends
	}
	n, err := cs.Expedite(ctx, circuitReason(handler), now)
	if err != nil {
		d.Logger.Error("wake the receipts waiting for a closed circuit; they come back when their wait ends", "handler", handler, "err", err)
		return
	}
	if n > 0 {
		d.Logger.Info("woke the receipts waiting for the circuit", "handler", handler, "receipts", n)
		d.Notify()
	}
}

// RefreshCircuits reads the circuits from the store, taking the changes
// other instances made (and announcing them), and wakes again the receipts
// of circuits that closed since the last refresh. Run calls it every
// CircuitRefresh.
func (d *Dispatcher) RefreshCircuits(ctx context.Context) error {
	d.circuitsLoaded.Store(true)
	cs := d.circuitStore()
	if cs == nil {
		return nil
	}
	all, err := cs.Circuits(ctx)
	if err != nil {
		return err
	}
	now := d.Now()
	for _, s := range all {
		b := d.breaker(s.Handler)
		if before, taken := b.set(s); taken && before.Version != s.Version {
			d.circuitChanged(ctx, before, s, now)
		}
	}
	d.breakers.Range(func(_, v any) bool {
		b := v.(*breaker)
		b.mu.Lock()
		again, name := b.rewake, b.st.Handler
		b.rewake = false
		b.mu.Unlock()
		if again {
			d.wakeWaiting(ctx, name, now)
		}
		return true
	})
	return nil
}

// loadCircuits reads the stored circuits before the first delivery of this
// dispatcher, so that a restart keeps an open circuit open.
func (d *Dispatcher) loadCircuits(ctx context.Context) {
	if d.circuitsLoaded.Load() {
		return
	}
	d.circuitsOnce.Do(func() {
		if err := d.RefreshCircuits(ctx); err != nil {
			d.Logger.Error("read the handlers' circuits", "err", err)
		}
	})
}

// refreshCircuits runs RefreshCircuits every CircuitRefresh until stop.
func (d *Dispatcher) refreshCircuits(ctx context.Context, stop <-chan struct{}) {
	every := d.CircuitRefresh
	if every <= 0 {
		every = DefaultCircuitRefresh
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if err := d.RefreshCircuits(ctx); err != nil {
			d.Logger.Warn("refresh the handlers' circuits", "err", err)
		}
	}
}

// Circuits answers this dispatcher's copy of the circuits it knows, by handler.
func (d *Dispatcher) Circuits() map[string]hookgate.CircuitStatus {
	out := map[string]hookgate.CircuitStatus{}
	d.breakers.Range(func(k, v any) bool {
		b := v.(*breaker)
		b.mu.Lock()
		out[k.(string)] = b.st
		b.mu.Unlock()
		return true
	})
	return out
}

// ResetCircuit closes handler's circuit by hand and wakes the receipts that
// wait for it.
func (d *Dispatcher) ResetCircuit(ctx context.Context, handler string) (hookgate.CircuitStatus, error) {
	b := d.breaker(handler)
	var before, after hookgate.CircuitStatus
	if cs := d.circuitStore(); cs != nil {
		var err error
		if _, after, err = cs.CircuitSucceeded(ctx, handler); err != nil {
			return after, err
		}
		before, _ = b.set(after)
	} else {
		before, after = b.apply(func(s hookgate.CircuitStatus) hookgate.CircuitStatus { return s.Succeeded() })
	}
	d.circuitChanged(ctx, before, after, d.Now())
	return after, nil
}
