// Package events is the in-process stream of receipt transitions. Stores
// commit a transition first; only then is it published here, to the live
// stream, metrics, logs and `hookgate tail`.
package events

import (
	"sync"
	"sync/atomic"

	"github.com/hookgate/hookgate"
)

// Bus fans transitions out to observers and subscribers. Observers are
// called in line by Publish (counting, that must see every transition and
// costs less than waking a goroutine); subscribers get a channel, and one
// that does not keep up loses transitions (counted in Dropped) rather than
// slowing ingest.
type Bus struct {
	mu        sync.RWMutex
	observers []func(hookgate.Transition)
	subs      map[chan hookgate.Transition]struct{}
	dropped   atomic.Int64
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[chan hookgate.Transition]struct{}{}} }

// Publish calls every observer with t and sends it to every subscriber
// without blocking.
func (b *Bus) Publish(t hookgate.Transition) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, fn := range b.observers {
		fn(t)
	}
	for ch := range b.subs {
		select {
		case ch <- t:
		default:
			b.dropped.Add(1)
		}
	}
}

// Observe registers fn to be called by Publish with every transition, on
// the publisher's goroutine: fn must be quick and must not block.
func (b *Bus) Observe(fn func(hookgate.Transition)) {
	b.mu.Lock()
	b.observers = append(b.observers, fn)
	b.mu.Unlock()
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
