// Package events is the in-process stream of receipt transitions. Stores
// commit a transition first; only then is it published here, to the live
// stream, metrics, logs and `hookgate tail`.
package events

import (
	"sync"
	"sync/atomic"

	"github.com/hookgate/hookgate"
)

// Bus fans transitions out to subscribers. A subscriber that does not keep up
// loses transitions (counted in Dropped) rather than slowing ingest.
type Bus struct {
	mu      sync.RWMutex
	subs    map[chan hookgate.Transition]struct{}
	dropped atomic.Int64
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[chan hookgate.Transition]struct{}{}} }

// Publish sends t to every subscriber without blocking.
func (b *Bus) Publish(t hookgate.Transition) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for ch := range b.subs {
		select {
		case ch <- t:
		default:
			b.dropped.Add(1)
		}
	}
}

// Subscribe returns a channel of transitions with the given buffer and a
// function that ends the subscription and closes the channel.
func (b *Bus) Subscribe(buffer int) (<-chan hookgate.Transition, func()) {
	ch := make(chan hookgate.Transition, buffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Dropped counts transitions a slow subscriber missed.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }
