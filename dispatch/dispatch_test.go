package dispatch

import (
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := (&hookgate.RetryPolicy{}).WithDefaults() // 5s × 2^(n-1), capped at 1h
	for _, tt := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0.5, 5 * time.Second},
		{2, 0.5, 10 * time.Second},
		{3, 0.5, 20 * time.Second},
		{1, 0, 4 * time.Second},                   // -20%
		{1, 0.999999, 5999999 * time.Microsecond}, // just under +20%
		{20, 0.5, time.Hour},                      // capped
		{20, 0.999999, time.Hour},                 // jitter never exceeds the cap
		{5000, 0.5, time.Hour},                    // no overflow
	} {
		d := &Dispatcher{Jitter: func() float64 { return tt.jitter }}
		got := d.Backoff(p, tt.n)
		if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("Backoff(n=%d, jitter=%v) = %v, want %v", tt.n, tt.jitter, got, tt.want)
		}
	}
}

func TestRetryPolicyPrecedence(t *testing.T) {
	t.Parallel()
	handler := &hookgate.RetryPolicy{MaxAttempts: 3}
	conn := &hookgate.RetryPolicy{MaxAttempts: 5, InitialInterval: hookgate.Duration(time.Second)}
	server := &hookgate.RetryPolicy{Multiplier: 3}
	got := handler.WithDefaults(conn, server)
	if got.MaxAttempts != 3 || time.Duration(got.InitialInterval) != time.Second || got.Multiplier != 3 || time.Duration(got.MaxInterval) != time.Hour {
		t.Fatalf("merged policy = %+v", got)
	}
	var none *hookgate.RetryPolicy
	if d := none.WithDefaults(); d.MaxAttempts != 8 || time.Duration(d.InitialInterval) != 5*time.Second || d.Multiplier != 2 {
		t.Fatalf("defaults = %+v", d)
	}
}
