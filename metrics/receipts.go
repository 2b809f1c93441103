package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookgate/hookgate/store"
)

// ReceiptCounter counts stored receipts by connection and state; a store
// implements it.
type ReceiptCounter interface {
	ReceiptCounts(ctx context.Context) ([]store.ReceiptCount, error)
}

// receiptsEvery is how long a count serves scrapes: counting reads an index
// of every stored receipt, which several scrapers a second must not repeat.
const receiptsEvery = 10 * time.Second

var receiptsDesc = prometheus.NewDesc("hookgate_receipts",
	"Stored receipts by connection and state (counted at most every 10 s).",
	[]string{"connection", "status"}, nil)

// ObserveReceipts exposes c's counts as hookgate_receipts{connection,status}.
func (m *Metrics) ObserveReceipts(c ReceiptCounter, now func() time.Time) {
	m.Registry.MustRegister(&receiptsCollector{counter: c, now: now})
}

type receiptsCollector struct {
	counter ReceiptCounter
	now     func() time.Time

	mu     sync.Mutex
	at     time.Time
	counts []store.ReceiptCount
}

func (c *receiptsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- receiptsDesc }

func (c *receiptsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.counts == nil || now.Sub(c.at) >= receiptsEvery || now.Before(c.at) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		counts, err := c.counter.ReceiptCounts(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(receiptsDesc, err)
			return
		}
		c.counts, c.at = counts, now
	}
	for _, n := range c.counts {
		ch <- prometheus.MustNewConstMetric(receiptsDesc, prometheus.GaugeValue, float64(n.Count), n.Connection, n.Status)
	}
}
