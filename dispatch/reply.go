package dispatch

import (
	"bytes"
	"context"

	"github.com/hookgate/hookgate"
)

// DefaultMaxReplyBytes bounds the body of a handler's reply that is kept
// with its attempt and answered by a synchronous route
// (webhooks.max_reply_bytes).
const DefaultMaxReplyBytes = 64 << 10

// maxContentType bounds a reply's content type as kept.
const maxContentType = 256

// send calls t's handler: SendReply when it is a hookgate.Replier, whose
// reply is kept on a (bounded), else Send.
func (d *Dispatcher) send(ctx context.Context, t Target, r *hookgate.Receipt, a *hookgate.Attempt) (int, bool, error) {
	rp, ok := t.Sender.(hookgate.Replier)
	if !ok {
		return t.Sender.Send(ctx, r)
	}
	reply, retry, err := rp.SendReply(ctx, r)
	a.Reply, a.ReplyTruncated = d.keepReply(reply)
	return reply.StatusCode, retry, err
}

// keepReply bounds a reply for its attempt: the body cut at MaxReplyBytes
// (reported as truncated), the content type at maxContentType. A reply
// without body and content type is nil: the attempt's status code says it.
func (d *Dispatcher) keepReply(reply hookgate.Reply) (*hookgate.Reply, bool) {
	if len(reply.Body) == 0 && reply.ContentType == "" {
		return nil, false
	}
	limit := d.MaxReplyBytes
	if limit <= 0 {
		limit = DefaultMaxReplyBytes
	}
	truncated := false
	if int64(len(reply.Body)) > limit {
		// A copy: the cut must not keep the whole body alive.
		reply.Body, truncated = bytes.Clone(reply.Body[:limit]), true
	}
	if len(reply.ContentType) > maxContentType {
		reply.ContentType = ""
	}
	return &reply, truncated
}
