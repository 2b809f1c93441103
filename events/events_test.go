package events

import (
	"testing"

	"github.com/hookgate/hookgate"
)

// TestObserversSeeEveryTransition: an observer is called in line for every
// transition, even when a subscriber's buffer is full and it loses some.
func TestObserversSeeEveryTransition(t *testing.T) {
	b := NewBus()
	var seen []hookgate.Status
	b.Observe(func(tr hookgate.Transition) { seen = append(seen, tr.Status) })
	ch, stop := b.Subscribe(1)
	defer stop()
	for _, st := range []hookgate.Status{hookgate.StatusReceived, hookgate.StatusDispatched, hookgate.StatusAcknowledged} {
		b.Publish(hookgate.Transition{Status: st})
	}
	if len(seen) != 3 || seen[2] != hookgate.StatusAcknowledged {
		t.Errorf("observer saw %v", seen)
	}
	if got := <-ch; got.Status != hookgate.StatusReceived || b.Dropped() != 2 {
		t.Errorf("subscriber got %v first, %d dropped; want received and 2", got.Status, b.Dropped())
	}
}
