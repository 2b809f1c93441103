package dispatch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
)

// TestBulkReplayPageSkipsAndStops: a receipt claimed (or pruned) between the
// listing and its replay is counted as skipped, a receipt in flight when
// listed is not replayed at all, and a storage failure ends the page with
// an error after the replays already done.
func TestBulkReplayPageSkipsAndStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for i := range 6 {
		r := &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), Connection: "c", IdempotencyKey: fmt.Sprint("c:e:", i),
			Status: hookgate.StatusReceived, ReceivedAt: now.Add(time.Duration(i) * time.Millisecond), Body: []byte(`{}`)}
		if _, err := db.Ingest(ctx, r, time.Hour); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	// The oldest is in flight: leased to a worker.
	if rs, _, err := db.Claim(ctx, "w", 1, now.Add(time.Second), time.Hour); err != nil || len(rs) != 1 || rs[0].ID != ids[0] {
		t.Fatalf("claim: %v %v", rs, err)
	}
	var replayed []string
	bulk := &BulkReplay{Store: db, Parallel: 1, Replay: func(ctx context.Context, id string) (hookgate.Transition, error) {
		switch id {
		case ids[5]:
			return hookgate.Transition{}, hookgate.Errorf(hookgate.EConflict, "in flight")
		case ids[4]:
			return hookgate.Transition{}, hookgate.Errorf(hookgate.ENotFound, "gone")
		}
		tr, err := db.Replay(ctx, id, now.Add(time.Second))
		if err == nil {
			replayed = append(replayed, id)
		}
		return tr, err
	}}
	res, err := bulk.Page(ctx, hookgate.ReceiptFilter{Connection: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 6 || res.Replayed != 3 || res.Skipped[SkipInFlight] != 2 || res.Skipped[SkipGone] != 1 || res.Cursor != "" {
		t.Errorf("page = %+v, want 6 matched, 3 replayed, 2 in flight, 1 gone", res)
	}
	if !res.Until.Equal(now.Add(5*time.Millisecond + time.Microsecond)) {
		t.Errorf("until = %v, want just after the newest receipt", res.Until)
	}
	for _, id := range replayed {
		if id == ids[0] {
			t.Errorf("the receipt in flight was replayed")
		}
	}

	boom := errors.New("disk full")
	calls := 0
	bulk.Replay = func(ctx context.Context, id string) (hookgate.Transition, error) {
		calls++
		if calls == 2 {
			return hookgate.Transition{}, boom
		}
		return hookgate.Transition{}, nil
	}
	res, err = bulk.Page(ctx, hookgate.ReceiptFilter{Connection: "c"})
	if !errors.Is(err, boom) || res.Replayed != 1 || calls != 2 {
		t.Errorf("page with a storage failure = %+v, %v after %d calls; want the error after 1 replayed", res, err, calls)
	}
}
