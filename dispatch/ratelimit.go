package dispatch

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limits (SPEC §4.2 rate_limit): a handler with a rate_limit receives at
// most that many deliveries a second, replays included, one at a time (a
// token bucket of one). A receipt whose delivery would go over the rate
// reserves the next free slot and is deferred until it: it holds no worker
// and spends no attempt, and when it comes back its slot is kept for it, so a
// backlog is spread over the slots with one deferral per receipt instead of
// all of them asking again and again. The dispatcher wakes when the slot
// comes, so deliveries leave on time.
//
// The limit is per dispatcher: instances sharing a PostgreSQL store each keep
// to it (see docs/decisions.md).

// maxSlots bounds the receipts a handler's limiter remembers a slot for; past
// it, slots long gone (their receipt was replayed, or taken by another
// instance) are forgotten.
const maxSlots = 1 << 16

// limiter is one handler's rate limit.
type limiter struct {
	mu    sync.Mutex
	rate  float64
	lim   *rate.Limiter
	slots map[string]time.Time // receipt id → the slot it waits for
}

func (d *Dispatcher) limiter(name string, perSecond float64) *limiter {
	v, ok := d.limiters.Load(name)
	if !ok {
		v, _ = d.limiters.LoadOrStore(name, &limiter{
			rate: perSecond, lim: rate.NewLimiter(rate.Limit(perSecond), 1), slots: map[string]time.Time{},
		})
	}
	return v.(*limiter)
}

// rateGate answers whether receipt id may be delivered to a handler limited
// to perSecond deliveries a second at now; if not, how long it should wait
// for the slot it now holds.
func (d *Dispatcher) rateGate(name, id string, perSecond float64, now time.Time) (time.Duration, bool) {
	if perSecond <= 0 {
		return 0, true
	}
	l := d.limiter(name, perSecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate != perSecond { // the configuration changed
		l.rate = perSecond
		l.lim.SetLimitAt(now, rate.Limit(perSecond))
	}
	if slot, ok := l.slots[id]; ok {
		delete(l.slots, id)
		if !now.Before(slot) {
			return 0, true // its token was taken when the slot was reserved
		}
	}
	wait := l.lim.ReserveN(now, 1).DelayFrom(now)
	if wait <= 0 {
		return 0, true
	}
	if len(l.slots) >= maxSlots {
		for k, at := range l.slots {
			if now.Sub(at) > time.Minute {
				delete(l.slots, k)
			}
		}
	}
	if len(l.slots) < maxSlots {
		l.slots[id] = now.Add(wait)
	}
	// Wake up for the slot: without it the receipt would wait for the
	// next poll and leave late, together with the next one.
	time.AfterFunc(wait, d.Notify)
	return wait, false
}
