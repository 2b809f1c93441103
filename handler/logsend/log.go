// Package logsend is the "log" handler: one structured log line per receipt,
// for trying routes and for tests.
package logsend

import (
	"context"
	"log/slog"

	"github.com/hookgate/hookgate"
)

// Sender logs each receipt it is given and always succeeds.
type Sender struct {
	Name   string
	Logger *slog.Logger
}

// Send writes the log line.
func (s *Sender) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	s.Logger.InfoContext(ctx, "webhook delivered to log handler",
		"handler", s.Name, "receipt", r.ID, "connection", r.Connection,
		"event_type", r.EventType, "idempotency_key", r.IdempotencyKey, "bytes", len(r.Body))
	return 0, false, nil
}
