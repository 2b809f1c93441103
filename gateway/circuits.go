package gateway

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/admin"
	"github.com/hookgate/hookgate/events"
)

// circuitReadTimeout bounds the read of the stored circuits for the API.
const circuitReadTimeout = 2 * time.Second

// Handlers lists the configured and registered handlers, sorted by name,
// each with its circuit. The circuits are read from the store when it keeps
// them (an instance that does not dispatch answers what the others wrote),
// and from the dispatcher's copy otherwise or when the store does not answer.
func (g *Gateway) Handlers() []admin.HandlerInfo {
	snap := g.snap.Load()
	circuits := g.circuits()
	out := make([]admin.HandlerInfo, 0, len(snap.handlers))
	for name, h := range snap.handlers {
		st, ok := circuits[name]
		if !ok {
			st = hookgate.CircuitStatus{Handler: name, State: hookgate.CircuitClosed}
		}
		out = append(out, admin.HandlerInfo{Name: name, Type: h.cfg.Type, Source: h.source, ReadOnly: h.source != sourceAPI, Circuit: admin.NewCircuitInfo(st)})
	}
	slices.SortFunc(out, func(a, b admin.HandlerInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// circuits answers the handlers' circuits by name (see Handlers).
func (g *Gateway) circuits() map[string]hookgate.CircuitStatus {
	if cs, ok := g.store.(hookgate.CircuitStore); ok {
		ctx, cancel := context.WithTimeout(context.Background(), circuitReadTimeout)
		defer cancel()
		all, err := cs.Circuits(ctx)
		if err == nil {
			out := make(map[string]hookgate.CircuitStatus, len(all))
			for _, s := range all {
				out[s.Handler] = s
			}
			return out
		}
		g.logger.Warn("read the handlers' circuits; answering this instance's copy", "err", err)
	}
	return g.dispatcher.Circuits()
}

// ResetCircuit closes a handler's circuit by hand and wakes the receipts
// that wait for it.
func (g *Gateway) ResetCircuit(ctx context.Context, name string) (admin.HandlerInfo, error) {
	h, ok := g.snap.Load().handlers[name]
	if !ok {
		return admin.HandlerInfo{}, hookgate.Errorf(hookgate.ENotFound, "no handler %q", name)
	}
	st, err := g.dispatcher.ResetCircuit(ctx, name)
	if err != nil {
		return admin.HandlerInfo{}, &hookgate.Error{Code: hookgate.EUnavailable, Message: "storage unavailable", Err: err}
	}
	return admin.HandlerInfo{Name: name, Type: h.cfg.Type, Source: h.source, ReadOnly: h.source != sourceAPI, Circuit: admin.NewCircuitInfo(st)}, nil
}

// CircuitEvents is the feed of circuit moves (the live stream's
// handler.circuit_changed events).
func (g *Gateway) CircuitEvents() *events.CircuitFeed { return g.circuitFeed }

// observeCircuits wires the dispatcher's circuit moves to the live stream,
// and the circuits' states to hookgate_handler_circuit_state (every handler,
// 0 for those whose circuit never moved).
func (g *Gateway) observeCircuits() {
	g.circuitFeed = &events.CircuitFeed{}
	g.dispatcher.OnCircuit = g.circuitFeed.Publish
	g.metrics.ObserveCircuits(func() map[string]hookgate.CircuitState {
		known := g.dispatcher.Circuits()
		out := make(map[string]hookgate.CircuitState, len(g.snap.Load().handlers))
		for name := range g.snap.Load().handlers {
			out[name] = known[name].State
		}
		return out
	})
}
