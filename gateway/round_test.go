package gateway

import "testing"

// TestReplayShowsTheRound: a replay's attempts are told apart from the
// first dispatch's by their round in the receipt JSON (each round numbers
// its attempts from 1).
func TestReplayShowsTheRound(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := dispatchGateway(t, s, "{}")
	r := tg.deliver("n1", `{"type":"order.created"}`)
	tg.drain()
	if st := tg.api("POST", "/api/v1/receipts/"+r.ID+"/replay", nil, nil); st/100 != 2 {
		t.Fatalf("replay = %d", st)
	}
	tg.drain()
	var got struct {
		Attempts []struct {
			Round  *int `json:"round"`
			Number int  `json:"number"`
		} `json:"attempts"`
	}
	tg.api("GET", "/api/v1/receipts/"+r.ID, nil, &got)
	if len(got.Attempts) != 2 {
		t.Fatalf("attempts: %+v", got.Attempts)
	}
	a, b := got.Attempts[0], got.Attempts[1]
	if a.Round == nil || b.Round == nil || *a.Round == *b.Round || a.Number != 1 || b.Number != 1 {
		t.Fatalf("the replay's attempt is not told apart: round %v number %d, round %v number %d", a.Round, a.Number, b.Round, b.Number)
	}
}
