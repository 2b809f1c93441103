package hookgate

import (
	"context"
	"time"
)

// Expecter is implemented by a Store that shares one commit among concurrent
// writes (the SQLite and PostgreSQL stores). Expect announces a write the caller
// is about to submit — ingress announces a delivery when it starts reading it —
// and returns the context to submit that write with (Ingest) and a function to
// call when the caller is done, which withdraws the announcement if no write
// consumed it. A busy commit waits a moment for announced writes instead of
// leaving them for the next flush, and commits at once when none is announced.
type Expecter interface {
	Expect(ctx context.Context) (context.Context, func())
}

// Store is the durable seam: receipts (which are also the dispatch jobs),
// attempts, history, idempotency keys and run-time connections. Every
// implementation must pass store/storetest.
//
// All methods that change a receipt's status also append the transition to its
// history in the same transaction and return the transitions they wrote, so
// that the caller can publish them after the commit, never before.
type Store interface {
	// Ingest writes a verified delivery: its idempotency key, the receipt and,
	// when r.Status is StatusReceived, its dispatch job (due at r.ReceivedAt),
	// all in one transaction. r.Status may also be StatusFiltered or
	// StatusHeld (stored, no job). If the key was seen within ttl, the receipt
	// is stored as StatusDuplicate with DuplicateOf set and no job. r.ID and
	// r.ReceivedAt must be set; r.Status and r.DuplicateOf are updated. Any
	// error means nothing was written and the caller must answer 503.
	// Ingest does not keep r.Body once it returns: ingress reuses the bytes
	// for the next request.
	Ingest(ctx context.Context, r *Receipt, ttl time.Duration) (Transition, error)

	// IngestLeased is Ingest for a synchronous route, whose handlers run
	// inline in the request that brought the delivery: a received receipt's
	// job is committed already leased to owner until until (it reads as
	// dispatched), in the same transaction, so no dispatcher claims it
	// while the inline run holds it, and a crash mid-run loses nothing (the
	// lease expires, or TakeOverLeases releases it). It returns the
	// transitions written: received then dispatched, or the one of a
	// duplicate (no job, no lease).
	IngestLeased(ctx context.Context, r *Receipt, ttl time.Duration, owner string, until time.Time) ([]Transition, error)

	// Record writes a receipt that is not a job (rejected, handshake). Its
	// headers are capped (1 KiB a value, 8 KiB in all), and recording it is
	// one insert, whatever the connection holds already (PruneRejected
	// enforces the budget later). r.Headers is set to what was stored.
	Record(ctx context.Context, r *Receipt) (Transition, error)

	// Receipt returns one receipt with its attempts and history, or an error
	// with code ENotFound.
	Receipt(ctx context.Context, id string) (*Receipt, error)

	// JobResult returns receipt id with its attempts and their replies
	// (SPEC §4.2 "Job results"), without headers and body, if it belongs to
	// one of connections; otherwise an error coded ENotFound. A receipt of
	// another connection and a missing one cost the same lookup and give the
	// same answer, so a sender's poll cannot tell them apart.
	JobResult(ctx context.Context, id string, connections []string) (*Receipt, error)

	// Receipts lists receipts newest first, without body, headers, attempts
	// or history. The returned cursor is empty on the last page.
	Receipts(ctx context.Context, f ReceiptFilter) ([]*Receipt, string, error)

	// Claim leases up to limit receipts whose job is due (NextAttemptAt <= now)
	// and whose lease is free or expired, to owner until now+lease, and moves
	// them to StatusDispatched. A receipt is never leased to two owners at
	// once. Claimed receipts carry headers, body and their attempts.
	Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*Receipt, []Transition, error)

	// Complete records the attempts of a claimed job and its outcome, and
	// releases the lease. It fails with an EConflict-coded error if owner no
	// longer holds the lease (the job was taken over), writing nothing, and
	// with EInvalid for StatusFailed without a NextAttemptAt (the receipt
	// would never run again).
	Complete(ctx context.Context, owner string, c Completion) ([]Transition, error)

	// RenewLeases extends to until the leases that owner still holds among
	// ids, in one write, and returns the ids whose lease owner no longer
	// holds (taken over, or the job completed). A dispatcher renews every
	// lease it holds well before it expires, so leases can be short and a
	// dead process's jobs are taken over soon.
	RenewLeases(ctx context.Context, owner string, ids []string, until time.Time) (lost []string, err error)

	// TakeOverLeases releases, on a store that one process owns (SQLite),
	// every lease held by an owner other than owner, so that the jobs of a
	// killed predecessor are due at once, and returns how many it released.
	// On a store shared by several instances (PostgreSQL) it releases
	// nothing: a live instance cannot be told from a dead one there, so a
	// dead instance's leases expire and Claim takes them over.
	TakeOverLeases(ctx context.Context, owner string) (int64, error)

	// Replay schedules a receipt for dispatch again (new round, attempt
	// count reset). Rejected and duplicate receipts are refused (EConflict).
	Replay(ctx context.Context, id string, now time.Time) (Transition, error)

	// Admit turns a rejected receipt that now verifies into a delivery:
	// r carries its ID and the fields found by verification (EventType,
	// Nonce, IdempotencyKey, SecretID) and the wanted Status (received,
	// filtered or held). Like Ingest it takes the idempotency key (expiring
	// at now+ttl), or stores the receipt as a duplicate. It refuses a receipt
	// that is not rejected, or whose body was not kept (EConflict).
	Admit(ctx context.Context, r *Receipt, now time.Time, ttl time.Duration) (Transition, error)

	// PruneRejected brings a connection's rejected receipts within b, oldest
	// first: receipts beyond b.Receipts are deleted, and the headers and
	// bodies beyond b.Bytes are dropped (the receipt, its reason and trace
	// stay). It runs in short transactions of a few hundred rows, off the
	// request path: recording a rejection (Record) never pays for it. It
	// returns how many receipts lost their headers and body, and how many
	// were deleted.
	PruneRejected(ctx context.Context, connection string, b RejectedBudget) (dropped, deleted int64, err error)

	// PruneReceipts deletes receipts received before before that are done
	// with dispatch (no job pending, no lease, not held), with their bodies,
	// attempts and history, in short transactions of a few hundred rows.
	PruneReceipts(ctx context.Context, before time.Time) (int64, error)

	// PruneIdempotencyKeys deletes keys that expired before now.
	PruneIdempotencyKeys(ctx context.Context, now time.Time) (int64, error)

	// Connections stored at run time.
	CreateConnection(ctx context.Context, c *Connection) error
	UpdateConnection(ctx context.Context, c *Connection) error
	DeleteConnection(ctx context.Context, typ, name string) error
	Connections(ctx context.Context) ([]*Connection, error)

	// Handlers stored at run time (SPEC §6). Names are unique: creating an
	// existing one is EConflict; updating or deleting a missing one is
	// ENotFound. The whole config is sealed at rest, signing secret and
	// headers included, and Handlers returns it with its signing secret.
	CreateHandler(ctx context.Context, h *HandlerConfig) error
	UpdateHandler(ctx context.Context, h *HandlerConfig) error
	DeleteHandler(ctx context.Context, name string) error
	Handlers(ctx context.Context) ([]*HandlerConfig, error)

	// Ping checks that storage answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// RejectedBudget bounds what one connection's rejected receipts keep, so that
// a flood of forged requests cannot fill the disk (SPEC §9).
type RejectedBudget struct {
	// Bytes bounds the stored headers and bodies of the connection's newest
	// rejected receipts, in all; older ones keep only their reason and trace.
	// Zero keeps none.
	Bytes int64
	// Receipts bounds how many rejected receipts the connection keeps at
	// all; older ones are deleted. Zero keeps every one.
	Receipts int
}

// ReceiptFilter selects receipts for listing.
type ReceiptFilter struct {
	Connection string
	Status     Status
	EventType  string
	Since      time.Time
	Until      time.Time
	Limit      int
	Cursor     string
}

// Completion is the result of one dispatch of a claimed receipt.
type Completion struct {
	ReceiptID string
	Attempts  []Attempt
	// Status is the new state: acknowledged, failed (retry at NextAttemptAt),
	// dead, filtered or held.
	Status        Status
	Reason        string
	NextAttemptAt *time.Time
	At            time.Time
	// Deferred releases the receipt without an outcome: Status is the
	// status it had when claimed (received or failed), its attempt count is
	// unchanged, Attempts (the handlers that succeeded before it was
	// deferred) are recorded, and it is due again at NextAttemptAt. The
	// dispatcher defers a receipt whose next handler has no free slot.
	Deferred bool
	// FailureType names why processing failed when no attempt says it (a
	// receipt that goes dead before any handler runs: "validation",
	// "transform", "undeliverable"); it labels the failures metric and is
	// not stored.
	FailureType string
}
