package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate"
)

// Retention under load (Config.RetentionPrune). The gateway's maintenance
// prunes every ten minutes, and a bench run would rarely meet it; this loop
// prunes as hard as a gateway ever would, while the runs ingest: every
// receipt done with dispatch is past retention (a retention of zero), so
// each gateway run starts with the receipts the previous run delivered to
// delete (and, with ConcurrentDispatch, deletes them as they are delivered),
// through the same store calls, batches and rests as the maintenance.
const (
	retentionPruneEvery = 100 * time.Millisecond
	keysPruneEvery      = 10 * time.Second
)

// retentionPruner runs that loop until stop.
type retentionPruner struct {
	pruned atomic.Int64 // receipts deleted
	keys   atomic.Int64 // expired idempotency keys deleted
	passes atomic.Int64
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func startRetentionPrune(s hookgate.Store) *retentionPruner {
	ctx, cancel := context.WithCancel(context.Background())
	p := &retentionPruner{stop: cancel}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(retentionPruneEvery)
		defer t.Stop()
		lastKeys := time.Now()
		for {
			n, _ := s.PruneReceipts(ctx, time.Now())
			p.pruned.Add(n)
			if time.Since(lastKeys) >= keysPruneEvery {
				k, _ := s.PruneIdempotencyKeys(ctx, time.Now())
				p.keys.Add(k)
				lastKeys = time.Now()
			}
			p.passes.Add(1)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// close stops the loop and waits for its pass in flight.
func (p *retentionPruner) close() {
	p.stop()
	p.wg.Wait()
}

// RetentionPrune is what the retention loop did during a bench.
type RetentionPrune struct {
	ReceiptsPruned int64 `json:"receipts_pruned"`
	KeysPruned     int64 `json:"keys_pruned"`
	Passes         int64 `json:"passes"`
}
