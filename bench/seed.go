package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
)

// SeedConfig fills a store with receipts, for measuring what a large store
// costs (idle memory, listing and search latency).
type SeedConfig struct {
	StorageURL  string
	Receipts    int
	Connections int // receipts are spread round-robin over bench-0 … bench-N
	BodySize    int
	Progress    io.Writer
}

// seedEventTypes and seedStatuses give the seeded receipts the variety a
// search filters on: most delivered, a few dead, some filtered or
// duplicates.
var seedEventTypes = []string{"push", "pull_request", "issues", "release", "deployment", "workflow_run", "check_run", "star"}

// Seed ingests cfg.Receipts receipts through the store's own Ingest (group
// commit included), spread over connections, event types and statuses, with
// received_at spaced one millisecond apart ending now. Receipts left
// "received" are marked delivered afterwards by the same transitions the
// dispatcher writes (Claim, Complete), except every 500th, which goes dead.
func Seed(ctx context.Context, cfg SeedConfig) error {
	if cfg.Receipts <= 0 {
		return hookgate.Errorf(hookgate.EInvalid, "seed needs a positive number of receipts")
	}
	cfg.Connections = max(cfg.Connections, 1)
	if cfg.BodySize <= 0 {
		cfg.BodySize = 2048
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	db, err := store.Open(ctx, cfg.StorageURL)
	if err != nil {
		return err
	}
	defer db.Close()

	start := time.Now().Add(-time.Duration(cfg.Receipts) * time.Millisecond)
	gen := &generator{prefix: "seed", size: max(cfg.BodySize, minBody)}
	var (
		next    atomic.Int64
		failed  atomic.Value
		wg      sync.WaitGroup
		workers = 128
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := gen.template()
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.Receipts || failed.Load() != nil {
					return
				}
				nonce := gen.next(body)
				conn := "bench-" + strconv.Itoa(i%cfg.Connections)
				ev := seedEventTypes[i%len(seedEventTypes)]
				st := hookgate.StatusReceived
				switch {
				case i%10 == 7:
					st = hookgate.StatusFiltered
				case i%50 == 3:
					st = hookgate.StatusDuplicate
				}
				r := &hookgate.Receipt{
					ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github", Connection: conn,
					EventType: ev, Nonce: nonce, Status: st,
					IdempotencyKey: conn + ":" + ev + ":" + nonce,
					ReceivedAt:     start.Add(time.Duration(i) * time.Millisecond),
					Headers:        http.Header{"Content-Type": {"application/json"}, "X-Github-Event": {ev}, "X-Github-Delivery": {nonce}},
					Body:           append([]byte(nil), body...),
				}
				if st == hookgate.StatusDuplicate {
					// Receipts i and i+50 (i%100 == 3, the same connection)
					// share a key: whichever commits second is the duplicate.
					r.Status, r.IdempotencyKey = hookgate.StatusReceived, conn+":dup-"+strconv.Itoa(i/100)
				}
				if _, err := db.Ingest(ctx, r, 24*time.Hour); err != nil {
					failed.Store(err)
					return
				}
				if (i+1)%100_000 == 0 {
					fmt.Fprintf(cfg.Progress, "seeded %d receipts\n", i+1)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	// Deliver the jobs: claim in batches and complete each, as the
	// dispatcher does, so statuses, attempts and history look real.
	now := time.Now()
	delivered := 0
	for {
		rs, _, err := db.Claim(ctx, "seed", 500, now, time.Hour)
		if err != nil {
			return fmt.Errorf("seed: claim: %w", err)
		}
		if len(rs) == 0 {
			break
		}
		var cwg sync.WaitGroup
		errs := make(chan error, len(rs))
		for k, r := range rs {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				c := hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged, At: now,
					Attempts: []hookgate.Attempt{{Handler: "sink", Round: r.Round, Number: 1, StartedAt: now,
						FinishedAt: now, Outcome: hookgate.OutcomeSuccess, StatusCode: 204}}}
				if (delivered+k)%500 == 0 {
					c.Status, c.Reason = hookgate.StatusDead, "seeded dead receipt"
					c.Attempts[0].Outcome, c.Attempts[0].StatusCode = hookgate.OutcomeFailure, 500
				}
				if _, err := db.Complete(ctx, "seed", c); err != nil {
					errs <- err
				}
			}()
		}
		cwg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return fmt.Errorf("seed: complete: %w", err)
		}
		delivered += len(rs)
	}
	fmt.Fprintf(cfg.Progress, "seeded %d receipts, %d delivered\n", cfg.Receipts, delivered)
	return nil
}
