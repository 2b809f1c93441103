package httpsend

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSendReplyAnswersTheDestinationsReply: SendReply answers the status,
// content type and body the destination answered, bounded by MaxReply and
// one byte more (so the dispatcher sees a longer body as cut), on success
// and on failure alike.
func TestSendReplyAnswersTheDestinationsReply(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/twiml":
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "<Response><Say>hi</Say></Response>")
		case "/long":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, strings.Repeat("y", 100))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"busy"}`)
		}
	}))
	t.Cleanup(srv.Close)

	s := newSender(t, srv.URL+"/twiml", "")
	reply, _, err := s.SendReply(context.Background(), receipt())
	if err != nil || reply.StatusCode != http.StatusCreated || reply.ContentType != "text/xml" ||
		string(reply.Body) != "<Response><Say>hi</Say></Response>" {
		t.Fatalf("reply %d %q %q, err %v", reply.StatusCode, reply.ContentType, reply.Body, err)
	}

	s = newSender(t, srv.URL+"/long", "")
	s.MaxReply = 10
	reply, _, err = s.SendReply(context.Background(), receipt())
	if err != nil || len(reply.Body) != 11 {
		t.Fatalf("bounded reply of %d bytes (want MaxReply+1 = 11), err %v", len(reply.Body), err)
	}

	s = newSender(t, srv.URL+"/busy", "")
	reply, retry, err := s.SendReply(context.Background(), receipt())
	if err == nil || !retry || reply.StatusCode != 503 || string(reply.Body) != `{"error":"busy"}` {
		t.Fatalf("failure reply %d %q, retry %v, err %v", reply.StatusCode, reply.Body, retry, err)
	}
	// Send still answers the status alone.
	if code, _, _ := s.Send(context.Background(), receipt()); code != 503 {
		t.Fatalf("Send answered %d", code)
	}
}
