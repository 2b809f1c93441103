package ingress

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
)

// overloadRetryAfter is the Retry-After (seconds) of a 503 for a full body
// budget or too many connections: the overload is a matter of seconds, and
// providers retry.
const overloadRetryAfter = "5"

// Limits bounds what ingress holds across all requests: the body bytes in
// flight and the open connections of the public listener. Past either,
// ingress answers 503 with Retry-After without reading the body, so a
// flood of slow or stalled senders costs a bounded amount of memory. The
// zero value limits nothing; use NewLimits.
type Limits struct {
	inflightMax int64
	connMax     int64
	inflight    atomic.Int64
	conns       atomic.Int64
}

// NewLimits returns limits of inflightBodyBytes body bytes and
// maxConnections open connections; zero (or less) disables either bound.
func NewLimits(inflightBodyBytes int64, maxConnections int) *Limits {
	return &Limits{inflightMax: inflightBodyBytes, connMax: int64(maxConnections)}
}

// reserve takes n bytes of the body budget and reports whether they fit.
// A reservation that does not fit is undone at once. Nil limits always fit.
func (l *Limits) reserve(n int64) bool {
	if l == nil || l.inflightMax <= 0 || n <= 0 {
		return true
	}
	if l.inflight.Add(n) > l.inflightMax {
		l.inflight.Add(-n)
		return false
	}
	return true
}

// release returns n reserved bytes to the budget.
func (l *Limits) release(n int64) {
	if l == nil || l.inflightMax <= 0 || n <= 0 {
		return
	}
	l.inflight.Add(-n)
}

// InflightBodyBytes is the number of body bytes reserved right now.
func (l *Limits) InflightBodyBytes() int64 { return l.inflight.Load() }

// Connections is the number of open connections of the wrapped listener.
func (l *Limits) Connections() int64 { return l.conns.Load() }

// Listener counts the connections of ln. A connection accepted while
// MaxConnections are already open is marked over the limit: its requests are
// answered 503 with Retry-After and Connection: close (an HTTP answer, which a
// provider retries, rather than a reset). A connection accepted past twice
// the limit is closed at once, so that connections that never send a
// request cannot pile up either.
func (l *Limits) Listener(ln net.Listener) net.Listener {
	if l == nil || l.connMax <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, l: l}
}

type limitListener struct {
	net.Listener
	l *Limits
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := ll.l.conns.Add(1)
		if n > 2*ll.l.connMax {
			ll.l.conns.Add(-1)
			c.Close()
			continue
		}
		return &countedConn{Conn: c, l: ll.l, over: n > ll.l.connMax}, nil
	}
}

// countedConn gives its slot back when it is closed (once).
type countedConn struct {
	net.Conn
	l      *Limits
	over   bool
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.conns.Add(-1)
	}
	return c.Conn.Close()
}

type overKey struct{}

// ConnContext is the http.Server ConnContext hook that tells ingress which
// connections were accepted over the limit (see Listener).
func (l *Limits) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*countedConn); ok && cc.over {
		return context.WithValue(ctx, overKey{}, true)
	}
	return ctx
}

// overConnections reports whether ctx belongs to a connection accepted over
// the limit.
func overConnections(ctx context.Context) bool {
	over, _ := ctx.Value(overKey{}).(bool)
	return over
}
