package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Worker is the example's internal service behind hookgate: the http
// handlers of hookgate.yaml post each delivery to it, and what it answers
// is the handler's reply — the answer of the synchronous notifications
// endpoint, and the job result the sales-prospecting senders poll.
func Worker() http.Handler {
	mux := http.NewServeMux()
	// The generic Slack notification dispatcher (sync route): say where
	// the message went.
	mux.HandleFunc("POST /notifications", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Channel string `json:"channel"`
			Text    string `json:"text"`
		}
		if err := decode(r, &in); err != nil || in.Channel == "" {
			http.Error(w, "want {channel, text}", http.StatusBadRequest)
			return
		}
		answer(w, map[string]any{"ok": true, "channel": in.Channel, "delivered": len(in.Text),
			"receipt_id": r.Header.Get("Hookgate-Receipt-Id")})
	})
	// The Salesforce account summary (async job): the result the sender
	// polls at /webhooks/sales-prospecting/job/<id>.
	mux.HandleFunc("POST /summary", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			AccountID string `json:"account_id"`
		}
		if err := decode(r, &in); err != nil || in.AccountID == "" {
			http.Error(w, "want {account_id}", http.StatusBadRequest)
			return
		}
		answer(w, map[string]any{"account_id": in.AccountID,
			"summary": fmt.Sprintf("Account %s: 3 open opportunities, renewal in Q3.", in.AccountID)})
	})
	// The Dust sales conversation (async job).
	mux.HandleFunc("POST /dust", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ConversationID string `json:"conversation_id"`
			Message        string `json:"message"`
		}
		if err := decode(r, &in); err != nil || in.ConversationID == "" {
			http.Error(w, "want {conversation_id, message}", http.StatusBadRequest)
			return
		}
		answer(w, map[string]any{"conversation_id": in.ConversationID,
			"reply": "You said: " + strings.TrimSpace(in.Message)})
	})
	return mux
}

func decode(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
