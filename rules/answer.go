package rules

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// Bounds of the fields a connection's answer may carry (response.fields):
// the answer goes to whoever sent the delivery, so it stays small.
const (
	MaxAnswerFields = 32
	maxAnswerValue  = 1024
)

// Answer sources: besides "body:path" and "header:Name" (as in event_type),
// the delivery's own names.
var answerNames = map[string][]string{
	"connection": {"name", "type"},
	"receipt":    {"id", "event_type", "nonce", "idempotency_key"},
}

// ValidateAnswerSource checks the source of one response field:
// "body:path", "header:Name", "connection:name", "connection:type",
// "receipt:id", "receipt:event_type", "receipt:nonce" or
// "receipt:idempotency_key".
func ValidateAnswerSource(spec string) error {
	kind, name, ok := strings.Cut(spec, ":")
	if ok && name != "" && (kind == "body" || kind == "header") {
		return nil
	}
	for _, n := range answerNames[kind] {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("source %q: use body:path, header:Name, connection:name|type or receipt:id|event_type|nonce|idempotency_key", spec)
}

// ReceiptNames are the receipt's own values an answer field may name.
type ReceiptNames struct {
	ID, EventType, Nonce, IdempotencyKey string
	ConnectionName, ConnectionType       string
}

// AnswerFields builds the data object of a connection's answer: each field
// takes the value its source names, read from the verified delivery. A body
// field keeps its JSON type (string, number, boolean); a missing one is
// null. Strings are cut at 1 KiB.
func AnswerFields(fields map[string]string, h http.Header, env Envelope, rc ReceiptNames) map[string]any {
	out := make(map[string]any, len(fields))
	for key, spec := range fields {
		kind, name, _ := strings.Cut(spec, ":")
		var v any
		switch kind {
		case "body":
			v = env.value(name)
		case "header":
			if s := h.Get(name); s != "" {
				v = s
			}
		case "connection":
			v = map[string]string{"name": rc.ConnectionName, "type": rc.ConnectionType}[name]
		case "receipt":
			v = map[string]string{"id": rc.ID, "event_type": rc.EventType, "nonce": rc.Nonce, "idempotency_key": rc.IdempotencyKey}[name]
		}
		if s, ok := v.(string); ok {
			v = cut(s, maxAnswerValue)
		}
		out[key] = v
	}
	return out
}

// value reads a scalar at a dotted path with its JSON type: a string, a
// json.Number or a bool; nil when absent or not a scalar.
func (e Envelope) value(path string) any {
	if e.form != nil {
		if s, ok := formField(e.form, path); ok {
			return s
		}
		return nil
	}
	if e.json == nil {
		return nil
	}
	v := gjson.GetBytes(e.json, jsonPath(path))
	switch v.Type {
	case gjson.String:
		return validUTF8(v.Str)
	case gjson.Number:
		if len(v.Raw) > maxAnswerValue {
			return nil
		}
		return json.Number(v.Raw)
	case gjson.True:
		return true
	case gjson.False:
		return false
	}
	return nil
}
