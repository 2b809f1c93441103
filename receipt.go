// Package hookgate holds the domain of the gateway: receipts, their states,
// attempts, connections and routes, the error type, and the interfaces that the
// subpackages implement (Store in store/, Verifier in verify/, Sender in handler/).
//
// The flow of one webhook is ingress → verify → store → dispatch → handler; each
// step has its own package named after it.
//
// To embed hookgate in a Go program and handle webhooks in code, build a
// gateway with package gateway (gateway.New or gateway.NewFromFile) and give
// it handlers written as a Sender (SenderFunc) or a Replier (ReplierFunc).
package hookgate

import (
	"net/http"
	"slices"
	"time"
)

// Status is the state of a receipt (SPEC §4.1).
type Status string

// Receipt states. Every transition is persisted before it is published.
const (
	StatusReceived     Status = "received"
	StatusDispatched   Status = "dispatched"
	StatusAcknowledged Status = "acknowledged"
	StatusFailed       Status = "failed"
	StatusDead         Status = "dead"
	StatusDuplicate    Status = "duplicate"
	StatusFiltered     Status = "filtered"
	StatusHeld         Status = "held"
	StatusRejected     Status = "rejected"
	StatusHandshake    Status = "handshake"
)

// Statuses lists every receipt state.
func Statuses() []Status {
	return []Status{StatusReceived, StatusDispatched, StatusAcknowledged, StatusFailed, StatusDead,
		StatusDuplicate, StatusFiltered, StatusHeld, StatusRejected, StatusHandshake}
}

// Valid reports whether s is one of the known states.
func (s Status) Valid() bool {
	return slices.Contains(Statuses(), s)
}

// Receipt is the stored record of one delivery. Body holds the raw bytes
// exactly as received; nothing is re-serialized.
type Receipt struct {
	ID             string
	ConnectionType string
	Connection     string
	EventType      string
	Nonce          string
	IdempotencyKey string
	Status         Status
	Reason         string // reason code for rejected/dead receipts
	DuplicateOf    string
	ReceivedAt     time.Time
	UpdatedAt      time.Time
	Headers        http.Header
	Body           []byte
	SecretID       string
	// Trace is the verification trace of a rejected receipt (JSON), empty otherwise.
	Trace []byte
	// OrderingKey is the value of the matched route's ordering_key, empty
	// for none. Receipts of one connection with the same key are
	// dispatched one at a time, in the order they were stored (SPEC §4.2).
	OrderingKey string
	// Source says how the receipt arrived: empty for a delivery to ingress,
	// SourceBackfill for one fetched from the provider's API (SPEC §4.5).
	Source string

	// Job fields: the receipt row is the dispatch job.
	AttemptCount  int        // job attempts in the current round
	Round         int        // incremented by every replay; attempts are grouped by round
	NextAttemptAt *time.Time // nil when no job is pending

	Attempts []Attempt
	History  []Transition
}

// SourceBackfill marks a receipt that was fetched from the provider's API by
// a backfill instead of being delivered to ingress.
const SourceBackfill = "backfill"

// Outcome is the result of one attempt.
type Outcome string

// Attempt outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	// OutcomeFatal is a failure the handler says must not be retried.
	OutcomeFatal Outcome = "fatal"
)

// Attempt is one try of one handler for one receipt.
type Attempt struct {
	Handler    string
	Round      int
	Number     int
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    Outcome
	StatusCode int
	Error      string
	// Reply is what the handler answered (a Replier's reply: content type
	// and body, bounded by webhooks.max_reply_bytes), nil when it answered
	// no body. ReplyTruncated says the body was longer and Reply holds its
	// beginning. Stores keep replies beside the attempt, not in its line.
	Reply          *Reply
	ReplyTruncated bool
}

// Transition is one entry of a receipt's status history.
type Transition struct {
	ReceiptID  string
	Connection string
	From       Status
	Status     Status
	Reason     string
	At         time.Time
	// NextAttemptAt is when a failed receipt is tried again (live events
	// only; the stored history does not keep it).
	NextAttemptAt *time.Time
}
