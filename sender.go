package hookgate

import "context"

// Sender delivers a receipt to one destination (SPEC §4.3). It follows the
// Alertmanager notifier contract: it reports whether a failure is worth
// retrying, and the dispatcher alone owns backoff and dead-lettering.
//
// Send returns the destination's status code when it has one (HTTP), 0
// otherwise. On success err is nil and retry is ignored. A failure with
// retry == false sends the receipt straight to dead.
type Sender interface {
	Send(ctx context.Context, r *Receipt) (statusCode int, retry bool, err error)
}

// SenderFunc adapts a function to Sender; it is how Go code registers a
// handler in the embeddable gateway.
type SenderFunc func(ctx context.Context, r *Receipt) (statusCode int, retry bool, err error)

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, r *Receipt) (int, bool, error) { return f(ctx, r) }

// Reply is what a destination answered: an HTTP response's status, content
// type and body, an exec handler's stdout, a Go handler's returned body. It is
// kept with the attempt (SPEC §4.2 "Job results", bounded) and is the answer a
// synchronous route sends back (SPEC §4.2 "Synchronous routes").
type Reply struct {
	StatusCode  int
	ContentType string
	Body        []byte
}

// Replier is a Sender that also returns the destination's reply. Built-in
// handlers implement it; a Go handler may, by implementing it or through
// ReplierFunc. The dispatcher calls SendReply when a Sender implements it and
// Send otherwise, so existing Go handlers keep working unchanged. The retry
// and err results mean what they mean for Send.
type Replier interface {
	Sender
	SendReply(ctx context.Context, r *Receipt) (reply Reply, retry bool, err error)
}

// ReplierFunc adapts a function to Replier.
type ReplierFunc func(ctx context.Context, r *Receipt) (Reply, bool, error)

// SendReply calls f.
func (f ReplierFunc) SendReply(ctx context.Context, r *Receipt) (Reply, bool, error) {
	return f(ctx, r)
}

// Send calls f and keeps only the reply's status code.
func (f ReplierFunc) Send(ctx context.Context, r *Receipt) (int, bool, error) {
	reply, retry, err := f(ctx, r)
	return reply.StatusCode, retry, err
}
