package gateway

import (
	"errors"
	"io"
	"reflect"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/handler/amqpsend"
	"github.com/hookgate/hookgate/handler/execsend"
	"github.com/hookgate/hookgate/handler/kafkasend"
	"github.com/hookgate/hookgate/handler/natssend"
	"github.com/hookgate/hookgate/handler/redissend"
)

// handlerTypes lists the handler types a configuration may name.
const handlerTypes = "log, http, exec, nats, rabbitmq, redis, kafka"

// destination builds the sender of an exec or broker handler. A broker
// handler whose settings did not change since the running snapshot keeps
// its sender, and with it its open connection: adding a connection or
// reloading the file does not reconnect every broker. Building a sender
// never dials (brokers connect at the first delivery), so compiling a
// configuration only to check it opens nothing.
func (g *Gateway) destination(h hookgate.HandlerConfig) (sender hookgate.Sender, closer io.Closer, err error) {
	if live := g.snap.Load(); live != nil {
		if old, ok := live.handlers[h.Name]; ok && old.closer != nil && reflect.DeepEqual(old.cfg, h) {
			return old.sender, old.closer, nil
		}
	}
	switch h.Type {
	case "exec":
		s, err := execsend.New(h)
		return s, nil, err
	case "nats":
		s, err := natssend.New(h)
		return s, s, err
	case "rabbitmq":
		s, err := amqpsend.New(h, g.now)
		return s, s, err
	case "redis":
		s, err := redissend.New(h)
		return s, s, err
	case "kafka":
		s, err := kafkasend.New(h)
		return s, s, err
	}
	return nil, nil, errors.New("not a destination type")
}

// swapSnapshot makes next the running snapshot and closes the connections
// of the broker handlers it no longer uses (removed or changed). A delivery
// still running on a closed one fails and is retried on its successor.
// Callers hold g.mu.
func (g *Gateway) swapSnapshot(next *snapshot) {
	prev := g.snap.Swap(next)
	if prev == nil {
		return
	}
	for name, old := range prev.handlers {
		if old.closer == nil {
			continue
		}
		if cur, ok := next.handlers[name]; ok && cur.closer == old.closer {
			continue
		}
		if err := old.closer.Close(); err != nil {
			g.logger.Warn("close handler", "handler", name, "error", err)
		}
	}
}

// closeDestinations closes the broker connections of the running snapshot
// (Gateway.Close).
func (g *Gateway) closeDestinations() {
	g.mu.Lock()
	defer g.mu.Unlock()
	snap := g.snap.Load()
	if snap == nil {
		return
	}
	for name, h := range snap.handlers {
		if h.closer == nil {
			continue
		}
		if err := h.closer.Close(); err != nil {
			g.logger.Warn("close handler", "handler", name, "error", err)
		}
	}
}
