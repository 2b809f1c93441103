package cli

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// helpExample returns the first example of the command at path, joined
// across its "\" continuations, as shell words with $VARS expanded from
// env (double and single quotes honoured, as a shell reads them).
func helpExample(t *testing.T, env map[string]string, path ...string) []string {
	t.Helper()
	cmd := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	found, _, err := cmd.Find(path)
	if err != nil || found == cmd {
		t.Fatalf("no command %v: %v", path, err)
	}
	var line string
	for _, l := range strings.Split(found.Example, "\n") {
		l = strings.TrimSpace(l)
		cont := strings.HasSuffix(l, `\`)
		line += strings.TrimSuffix(l, `\`) + " "
		if !cont {
			break
		}
	}
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote, inWord = r, true
		case quote == 0 && r == ' ':
			if inWord {
				words = append(words, os.Expand(cur.String(), func(k string) string { return env[k] }))
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if len(words) == 0 || words[0] != "hookgate" {
		t.Fatalf("example %q does not start with hookgate", line)
	}
	return words[1:]
}

// adminGet decodes a GET of the admin API.
func adminGet(t *testing.T, adminAddr, path string, out any) {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// TestConnectionsAddHelpExample runs the first example of `hookgate
// connections add --help`, word for word, against a server on defaults (no
// handler of its own): the connection is registered, and a delivery to it
// is dispatched to the log handler, not filtered.
func TestConnectionsAddHelpExample(t *testing.T) {
	adminAddr, publicAddr := freeAddr(t), freeAddr(t)
	startServe(t, fmt.Sprintf("listen: %q\nadmin: {listen: %q}\n", publicAddr, adminAddr), adminAddr)
	const secret = "gh-webhook-secret"
	args := helpExample(t, map[string]string{"GITHUB_WEBHOOK_SECRET": secret}, "connections", "add")
	code, out := run(t, append(args, "--admin-url", "http://"+adminAddr)...)
	if code != 0 {
		t.Fatalf("%v exited %d:\n%s", args, code, out)
	}
	body := []byte(`{"action":"opened"}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, _ := http.NewRequest("POST", "http://"+publicAddr+"/webhooks/github/primary", bytes.NewReader(body))
	req.Header = http.Header{"Content-Type": {"application/json"}, "X-Github-Event": {"push"}, "X-Github-Delivery": {"d-1"},
		"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("delivery answered %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list struct{ Receipts []map[string]any }
		adminGet(t, adminAddr, "/api/v1/receipts?connection=primary", &list)
		if len(list.Receipts) == 1 && list.Receipts[0]["status"] == "acknowledged" {
			var full struct{ Attempts []map[string]any }
			adminGet(t, adminAddr, "/api/v1/receipts/"+list.Receipts[0]["id"].(string), &full)
			if len(full.Attempts) != 1 || full.Attempts[0]["handler"] != "log" {
				t.Fatalf("attempts %v, want one by the log handler", full.Attempts)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("receipts %v, want one acknowledged", list.Receipts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHandlersAddShowRm: the first example of `hookgate handlers add
// --help` makes a handler; show never prints its secret; a URL outside
// allowed_destinations and removing a missing handler fail with the API's
// reason; rm removes it.
func TestHandlersAddShowRm(t *testing.T) {
	adminAddr := freeAddr(t)
	startServe(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: %q}\nallowed_destinations: [\"10.0.0.0/8\"]\n", adminAddr), adminAddr)
	admin := []string{"--admin-url", "http://" + adminAddr}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	args := helpExample(t, map[string]string{"HOOKGATE_SIGNING_SECRET": secret}, "handlers", "add")
	if code, out := run(t, append(args, admin...)...); code != 0 || strings.Contains(out, secret) || !strings.Contains(out, `"source": "api"`) {
		t.Fatalf("%v exited %d:\n%s", args, code, out)
	}
	if code, out := run(t, append([]string{"handlers", "show", "notify"}, admin...)...); code != 0 || strings.Contains(out, secret) || !strings.Contains(out, "10.0.0.5") {
		t.Fatalf("show exited %d:\n%s", code, out)
	}
	if code, out := run(t, append([]string{"handlers", "add", "local", "--url", "http://127.0.0.1:9/", "--signing-secret", "x"}, admin...)...); code != 1 ||
		!strings.Contains(out, "allowed_destinations") {
		t.Fatalf("add outside the list exited %d:\n%s", code, out)
	}
	if code, out := run(t, append([]string{"handlers", "add", "hdr", "--url", "http://10.0.0.6/", "--header", "no-colon"}, admin...)...); code != 2 {
		t.Fatalf("bad --header exited %d:\n%s", code, out)
	}
	if code, out := run(t, append([]string{"handlers", "rm", "notify"}, admin...)...); code != 0 || !strings.Contains(out, "removed handler notify") {
		t.Fatalf("rm exited %d:\n%s", code, out)
	}
	if code, out := run(t, append([]string{"handlers", "rm", "notify"}, admin...)...); code != 1 || !strings.Contains(out, "not found") {
		t.Fatalf("second rm exited %d:\n%s", code, out)
	}
}
