package dispatch

import (
	"sync"
	"time"
)

// Deferral waits: a receipt whose next handler has no free slot goes back to
// the queue for a wait that starts at minDeferral, doubles with every
// receipt the handler's lane turns away and halves with every delivery it
// takes, up to maxDeferral. A handler that hangs thus sees its waiting
// receipts come back about every maxDeferral (one claim and one write each),
// and a merely busy one within a few hundred milliseconds of a free slot.
const (
	minDeferral = 100 * time.Millisecond
	maxDeferral = 30 * time.Second
)

// stuckAfter is how long a full lane may go without any of its deliveries
// ending before it counts as stuck: a destination that slow or hanging no
// longer holds a share of the shared pool (see Run). A busy lane at full
// speed ends deliveries all the time and never counts as stuck.
const stuckAfter = time.Second

// lane is one handler's share of the workers: its deliveries in flight,
// bounded by the handler's concurrency.
type lane struct {
	limit int
	busy  int
	bytes int64         // the bodies of its deliveries in flight
	wait  time.Duration // the next deferral
	// since is when the lane last filled or last ended a delivery while
	// full, whichever is later.
	since time.Time
}

func (l *lane) full() bool { return l.busy >= l.limit }

// lanes are the handlers' lanes of one dispatcher.
type lanes struct {
	mu     sync.Mutex
	byName map[string]*lane
}

// acquire takes a slot of handler name's lane, whose limit is limit. When the
// lane is full it answers false and how long the receipt should wait.
func (ls *lanes) acquire(name string, limit int, size int64, now time.Time) (ok bool, wait time.Duration) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.byName == nil {
		ls.byName = map[string]*lane{}
	}
	l := ls.byName[name]
	if l == nil {
		l = &lane{wait: minDeferral}
		ls.byName[name] = l
	}
	l.limit = limit // the latest configuration
	if l.full() {
		wait = l.wait
		l.wait = min(2*l.wait, maxDeferral)
		return false, wait
	}
	l.busy++
	l.bytes += size
	l.wait = max(l.wait/2, minDeferral)
	if l.full() {
		l.since = now
	}
	return true, 0
}

// release frees the slot of name's lane that acquire took.
func (ls *lanes) release(name string, size int64, now time.Time) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.byName[name]
	l.busy--
	l.bytes -= size
	l.since = now
}

// stuck answers the deliveries in flight, and their bodies, of the lanes
// that are full and have ended no delivery for stuckAfter: what a slow or
// hanging destination keeps out of the shared pool.
func (ls *lanes) stuck(now time.Time) (n int, bytes int64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.byName {
		if l.full() && now.Sub(l.since) >= stuckAfter {
			n, bytes = n+l.busy, bytes+l.bytes
		}
	}
	return n, bytes
}
