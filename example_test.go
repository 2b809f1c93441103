package hookgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookgate/hookgate"
)

// A Go handler decides per receipt, as Linear's handler registry does:
// acting on what concerns it, acknowledging the rest untouched, asking for a
// retry when the failure is passing, and refusing for good what can never
// succeed (the receipt goes to dead, to be replayed once fixed). Register
// it with gateway.Options.Handlers or Gateway.Handle (see package gateway).
func ExampleSenderFunc() {
	errBusy := errors.New("ledger is busy")
	busy := true
	invoices := hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
		if r.EventType != "invoice.paid" {
			return 0, false, nil // not ours: acknowledged, nothing to do
		}
		var inv struct{ ID string }
		if err := json.Unmarshal(r.Body, &inv); err != nil || inv.ID == "" {
			return 0, false, fmt.Errorf("invoice without an id") // no retry: dead
		}
		if busy {
			return 0, true, errBusy // retried after the backoff
		}
		fmt.Println("ledger records", inv.ID, "once, keyed by", r.IdempotencyKey)
		return 0, false, nil
	})
	ctx := context.Background()
	r := &hookgate.Receipt{EventType: "invoice.paid", IdempotencyKey: "billing:invoice.paid:evt_1", Body: []byte(`{"id":"in_1"}`)}
	_, retry, err := invoices.Send(ctx, r)
	fmt.Println("retry:", retry, "err:", err)
	busy = false
	_, _, err = invoices.Send(ctx, r)
	fmt.Println("err:", err)
	// Output:
	// retry: true err: ledger is busy
	// ledger records in_1 once, keyed by billing:invoice.paid:evt_1
	// err: <nil>
}

// A Replier returns what the destination answered. A synchronous route
// sends it back to the provider, and the attempt keeps it (SPEC §4.2).
func ExampleReplierFunc() {
	twiml := hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
		return hookgate.Reply{
			StatusCode:  200,
			ContentType: "application/xml",
			Body:        []byte("<Response><Message>Thanks!</Message></Response>"),
		}, false, nil
	})
	reply, _, err := twiml.SendReply(context.Background(), &hookgate.Receipt{EventType: "sms"})
	fmt.Println(reply.StatusCode, reply.ContentType, string(reply.Body), err)
	// A Replier is a Sender too: Send keeps the status only.
	code, _, _ := twiml.Send(context.Background(), &hookgate.Receipt{})
	fmt.Println(code)
	// Output:
	// 200 application/xml <Response><Message>Thanks!</Message></Response> <nil>
	// 200
}
