package ingress

import (
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultRejectLogInterval is how often a connection under a stream of
// rejections logs one line with their count.
const DefaultRejectLogInterval = 10 * time.Second

// rejectLog aggregates the log lines of rejected requests, so that a flood of
// forged requests writes a bounded number of lines whatever its rate: the
// first rejection of a quiet connection is logged at once (an operator sees
// a misconfigured secret immediately), and the ones after it are counted by
// reason and logged as one line per connection and interval. A window closes
// when an interval passes without a rejection; the next one logs at once
// again. So a connection logs at most one line per interval, plus the first.
//
// Its memory is one small entry per connection with rejections in the last
// interval, holding a count per reason code (a fixed set).
type rejectLog struct {
	mu      sync.Mutex
	windows map[string]*rejectWindow // by connection name
}

// rejectWindow counts the rejections of one connection since its last line.
type rejectWindow struct {
	total   int
	reasons map[string]int
	timer   *time.Timer
}

// note logs or counts one rejection of connection. interval is how long a
// window lasts (DefaultRejectLogInterval when zero).
func (l *rejectLog) note(logger *slog.Logger, interval time.Duration, connection, reason, remote string) {
	if interval <= 0 {
		interval = DefaultRejectLogInterval
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.windows[connection]; w != nil {
		w.total++
		w.reasons[reason]++
		return
	}
	if l.windows == nil {
		l.windows = map[string]*rejectWindow{}
	}
	w := &rejectWindow{reasons: map[string]int{}}
	l.windows[connection] = w
	w.timer = time.AfterFunc(interval, func() { l.flush(logger, interval, connection) })
	logger.Warn("webhook rejected", "connection", connection, "reason", reason, "remote", remote)
}

// flush logs the count of connection's window and starts the next one, or
// closes the window when it counted nothing.
func (l *rejectLog) flush(logger *slog.Logger, interval time.Duration, connection string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[connection]
	if w == nil {
		return
	}
	if w.total == 0 {
		w.timer.Stop()
		delete(l.windows, connection)
		return
	}
	logger.Warn("webhook rejections", "connection", connection, "count", w.total,
		"reasons", formatReasons(w.reasons), "interval", interval.String())
	w.total = 0
	clear(w.reasons)
	w.timer.Reset(interval)
}

// stop ends every window without logging its count (the server is going
// away), so that no timer outlives it.
func (l *rejectLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, w := range l.windows {
		w.timer.Stop()
		delete(l.windows, name)
	}
}

// formatReasons renders counts by reason as "a=3 b=1", reasons sorted.
func formatReasons(reasons map[string]int) string {
	var b strings.Builder
	for i, r := range slices.Sorted(maps.Keys(reasons)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(r)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(reasons[r]))
	}
	return b.String()
}
