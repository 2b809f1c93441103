package events

import (
	"sync"

	"github.com/hookgate/hookgate"
)

// CircuitFeed fans out the moves of handlers' circuit breakers (opened, half
// open, closed) to the live stream. They are few (a circuit moves at most a
// few times per reset_timeout), so a subscriber that does not keep up loses
// them rather than slowing the dispatcher, like Bus.
type CircuitFeed struct {
	mu   sync.RWMutex
	subs map[chan hookgate.CircuitChange]struct{}
}

// Publish sends c to every subscriber without blocking.
func (f *CircuitFeed) Publish(c hookgate.CircuitChange) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for ch := range f.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

// Subscribe returns a channel of circuit changes with the given buffer and a
// function that ends the subscription and closes the channel.
func (f *CircuitFeed) Subscribe(buffer int) (<-chan hookgate.CircuitChange, func()) {
	ch := make(chan hookgate.CircuitChange, buffer)
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[chan hookgate.CircuitChange]struct{}{}
	}
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, ch)
			f.mu.Unlock()
			close(ch)
		})
	}
}
