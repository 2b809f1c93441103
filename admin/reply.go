package admin

import (
	"encoding/base64"
	"unicode/utf8"

	"github.com/hookgate/hookgate"
)

// replyJSON renders an attempt's reply (SPEC §4.2 "Job results"): the
// content type and body its handler answered, body_base64 instead of body
// when the body is not UTF-8, and truncated when it was cut at
// webhooks.max_reply_bytes; null when the handler answered no body.
func replyJSON(a hookgate.Attempt) any {
	if a.Reply == nil {
		return nil
	}
	m := map[string]any{"content_type": nullable(a.Reply.ContentType), "body": nil, "body_base64": nil,
		"truncated": a.ReplyTruncated}
	if a.Reply.Body != nil {
		if utf8.Valid(a.Reply.Body) {
			m["body"] = string(a.Reply.Body)
		} else {
			m["body_base64"] = base64.StdEncoding.EncodeToString(a.Reply.Body)
		}
	}
	return m
}
