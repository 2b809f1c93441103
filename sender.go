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
