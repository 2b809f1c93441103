package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
)

// The durable baseline is the bare receiver with the gateway's promise kept
// and nothing else: it appends each verified delivery (its id and body) to a
// log file and answers 204 only once a flush holding it returned. Concurrent
// requests share one write and one flush (group commit, one flusher, as the
// store's lanes do), so it pays the disk's flush once per batch, not per
// request.
//
// It is the least any receiver that acknowledges only what is on disk can do
// on the machine at hand, with no database, no deduplication and no routing:
// baseline → durable baseline is what durability itself costs there (the wait
// for the flush, the wake-ups around it, the kernel's work), and durable
// baseline → gateway is what hookgate's checks, receipts and database cost on
// top. The log wraps around at durableLogWrap bytes, as a database's
// write-ahead log is reused after a checkpoint, so a long run neither fills
// the disk nor measures a file that only grows.
const durableLogWrap = 64 << 20

// durableLog is the group-committed append log of the durable baseline.
type durableLog struct {
	f    *os.File
	wrap int64 // the flusher starts over at 0 past this offset

	mu      sync.Mutex
	pending []byte        // records not yet taken by the flusher
	batch   *durableBatch // the batch pending's records belong to
	closed  bool

	kick chan struct{} // wakes the flusher; buffered, one slot
	done chan struct{} // closed when the flusher has stopped
}

// durableBatch is one shared write and flush: err is its outcome, set before
// flushed is closed.
type durableBatch struct {
	flushed chan struct{}
	err     error
}

func openDurableLog(dir string, wrap int64) (*durableLog, error) {
	f, err := os.CreateTemp(dir, "hookgate-bench-durable-*.log")
	if err != nil {
		return nil, fmt.Errorf("durable baseline: %w", err)
	}
	l := &durableLog{f: f, wrap: wrap, batch: &durableBatch{flushed: make(chan struct{})},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go l.flusher()
	return l, nil
}

// append queues one record and returns the batch that will hold it; the
// caller waits for batch.flushed.
func (l *durableLog) append(id string, body []byte) *durableBatch {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		b := &durableBatch{flushed: make(chan struct{}), err: os.ErrClosed}
		close(b.flushed)
		return b
	}
	l.pending = binary.BigEndian.AppendUint32(l.pending, uint32(len(id)))
	l.pending = append(l.pending, id...)
	l.pending = binary.BigEndian.AppendUint32(l.pending, uint32(len(body)))
	l.pending = append(l.pending, body...)
	b := l.batch
	// Kicked under mu, so that close, which closes kick under mu, never
	// finds a send on its way.
	select {
	case l.kick <- struct{}{}:
	default: // the flusher is already due to look
	}
	l.mu.Unlock()
	return b
}

// flusher takes whatever is pending, writes it, flushes it and answers its
// batch; requests that arrive meanwhile form the next batch.
func (l *durableLog) flusher() {
	defer close(l.done)
	var off int64
	var spare []byte
	for range l.kick {
		l.mu.Lock()
		recs, b := l.pending, l.batch
		if len(recs) == 0 {
			l.mu.Unlock()
			continue
		}
		l.pending, l.batch = spare[:0], &durableBatch{flushed: make(chan struct{})}
		l.mu.Unlock()

		if off+int64(len(recs)) > l.wrap {
			off = 0
		}
		_, err := l.f.WriteAt(recs, off)
		if err == nil {
			err = syncData(l.f)
		}
		off += int64(len(recs))
		b.err = err
		close(b.flushed)
		spare = recs
	}
}

// close stops the flusher after it answered every queued record, and
// removes the log.
func (l *durableLog) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.kick) // the flusher still takes a kick that is pending
	l.mu.Unlock()
	<-l.done
	_ = l.f.Close()
	_ = os.Remove(l.f.Name())
}

// startDurableBaseline is the baseline receiver that also keeps each
// delivery in a log flushed before the answer (above).
func startDurableBaseline(secret, dir string) (*server, *durableLog, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	log, err := openDurableLog(dir, durableLogWrap)
	if err != nil {
		return nil, nil, err
	}
	srv, err := serve(receiver(secret, func(id string, body []byte) error {
		b := log.append(id, body)
		<-b.flushed
		return b.err
	}), "/webhooks/github/bench")
	if err != nil {
		log.close()
		return nil, nil, err
	}
	return srv, log, nil
}
