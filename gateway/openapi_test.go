package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/admin"
)

// apiCall is one request to the admin API and the status it must answer.
type apiCall struct {
	name   string
	method string
	path   string // concrete path, with its query
	body   any    // JSON-encoded when not nil; a string is sent as is
	want   int
}

// openAPIExercises says, for every admin route ("METHOD pattern" as in
// admin.API.RouteTable), how to exercise it against the fixture. A route
// added to the table needs an entry here and a path in admin/openapi.json:
// TestOpenAPIAnswersConform fails, naming it, until both exist. Each answer
// is validated against the document; the guard's answers (401, 403, 415,
// 400 on a bad query) are exercised for every route without an entry.
var openAPIExercises = map[string]func(f *openAPIFixture) []apiCall{
	"GET /healthz":          func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
	"GET /readyz":           func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
	"GET /api/openapi.json": func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
	"GET /metrics":          func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
	"GET /api/v1/events":    func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
	"POST /api/v1/connections": func(f *openAPIFixture) []apiCall {
		return []apiCall{
			{name: "full", body: map[string]any{"type": "internal", "name": "full", "auth": "api_key",
				"api_key": map[string]any{"header": "X-Key", "value": "key-value"}, "path": "/hooks/full",
				"retry": map[string]any{"max_attempts": 3, "initial_interval": "5s"}, "replay_window_seconds": 60,
				"routes": []any{map[string]any{"events": []string{"a.*"}, "handlers": []string{"sink"}}}}, want: 201},
			{name: "basic", body: map[string]any{"type": "internal", "name": "basic", "auth": "basic",
				"basic_auth": map[string]any{"username": "u", "password": "p"}}, want: 201},
			{name: "exists", body: map[string]any{"type": "internal", "name": "rt", "auth": "secret",
				"signature_header": "X-Token", "signing_secret": "x"}, want: 409},
			{name: "file name", body: map[string]any{"type": "internal", "name": "svc", "auth": "secret",
				"signature_header": "X-Token", "signing_secret": "x"}, want: 403},
			{name: "unknown field", body: map[string]any{"type": "internal", "name": "x", "colour": "red"}, want: 400},
			{name: "not JSON", body: "{", want: 400},
		}
	},
	"GET /api/v1/connections": func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
	"GET /api/v1/connections/{type}/{name}": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/connections/internal/svc", want: 200},
			{path: "/api/v1/connections/github/hub", want: 200},
			{path: "/api/v1/connections/internal/nope", want: 404}}
	},
	"PATCH /api/v1/connections/{type}/{name}": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/connections/internal/rt", body: map[string]any{"paused": false}, want: 200},
			{path: "/api/v1/connections/internal/rt", body: map[string]any{"name": "other"}, want: 400},
			{path: "/api/v1/connections/internal/svc", body: map[string]any{"paused": true}, want: 403},
			{path: "/api/v1/connections/internal/nope", body: map[string]any{"paused": true}, want: 404}}
	},
	"DELETE /api/v1/connections/{type}/{name}": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/connections/internal/basic", want: 204},
			{path: "/api/v1/connections/internal/svc", want: 403},
			{path: "/api/v1/connections/internal/nope", want: 404}}
	},
	"POST /api/v1/connections/{type}/{name}/secrets": func(f *openAPIFixture) []apiCall {
		p := "/api/v1/connections/internal/rt/secrets"
		return []apiCall{{path: p, body: map[string]any{"secret": "third-token"}, want: 201},
			{path: p, body: map[string]any{"secret": "third-token"}, want: 409},
			{path: p, body: map[string]any{"secret": 7}, want: 400},
			{path: "/api/v1/connections/internal/svc/secrets", body: map[string]any{"secret": "s"}, want: 403},
			{path: "/api/v1/connections/internal/nope/secrets", body: map[string]any{"secret": "s"}, want: 404}}
	},
	"DELETE /api/v1/connections/{type}/{name}/secrets/{id}": func(f *openAPIFixture) []apiCall {
		p := "/api/v1/connections/internal/rt/secrets/"
		return []apiCall{{path: p + hookgate.SecretID("third-token"), want: 204},
			{path: p + "sec_00000000", want: 404},
			{path: "/api/v1/connections/internal/lone/secrets/" + hookgate.SecretID("lone-token"), want: 409},
			{path: "/api/v1/connections/internal/svc/secrets/" + hookgate.SecretID("tok"), want: 403}}
	},
	"GET /api/v1/receipts": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/receipts?limit=500", want: 200},
			{path: "/api/v1/receipts?connection=svc&limit=2", want: 200},
			{path: "/api/v1/receipts?status=rejected", want: 200},
			{path: "/api/v1/receipts?status=nope", want: 400},
			{path: "/api/v1/receipts?limit=0", want: 400},
			{path: "/api/v1/receipts?since=yesterday", want: 400}}
	},
	"GET /api/v1/receipts/{id}": func(f *openAPIFixture) []apiCall {
		var out []apiCall
		for kind, id := range f.receipts {
			out = append(out, apiCall{name: kind, path: "/api/v1/receipts/" + id, want: 200})
		}
		return append(out, apiCall{path: "/api/v1/receipts/nope", want: 404})
	},
	"POST /api/v1/receipts/replay": func(f *openAPIFixture) []apiCall {
		return []apiCall{{name: "dry run", body: map[string]any{"connection": "svc", "dry_run": true}, want: 200},
			{name: "page", body: map[string]any{"connection": "svc", "limit": 1}, want: 202},
			{name: "no criterion", body: map[string]any{}, want: 400},
			{name: "status rejected", body: map[string]any{"status": "rejected"}, want: 400}}
	},
	"POST /api/v1/receipts/{id}/replay": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/receipts/" + f.receipts["acknowledged"] + "/replay", want: 202},
			{path: "/api/v1/receipts/" + f.receipts["rejected"] + "/replay", want: 409},
			{path: "/api/v1/receipts/nope/replay", want: 404}}
	},
	"POST /api/v1/receipts/{id}/admit": func(f *openAPIFixture) []apiCall {
		return []apiCall{{name: "still rejected", path: "/api/v1/receipts/" + f.receipts["rejected"] + "/admit", want: 409},
			{name: "not rejected", path: "/api/v1/receipts/" + f.receipts["acknowledged"] + "/admit", want: 409},
			{name: "passes now", path: "/api/v1/receipts/" + f.receipts["admittable"] + "/admit", want: 202},
			{path: "/api/v1/receipts/nope/admit", want: 404}}
	},
	"GET /api/v1/handlers": func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
	"POST /api/v1/handlers": func(f *openAPIFixture) []apiCall {
		return []apiCall{{name: "run-time http", body: map[string]any{"name": "rth", "type": "http", "url": "http://127.0.0.1:9/hook",
			"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "headers": map[string]string{"X-Key": "k"}}, want: 201},
			{name: "exec at run time", body: map[string]any{"name": "ex", "type": "exec", "command": []string{"true"}}, want: 400},
			{name: "file name", body: map[string]any{"name": "sink", "type": "http", "url": "http://127.0.0.1:9/x"}, want: 403}}
	},
	"GET /api/v1/handlers/{name}": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/handlers/sink", want: 200}, {path: "/api/v1/handlers/nope", want: 404}}
	},
	"PATCH /api/v1/handlers/{name}": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/handlers/sink", body: map[string]any{"timeout": "5s"}, want: 403},
			{path: "/api/v1/handlers/nope", body: map[string]any{"timeout": "5s"}, want: 404}}
	},
	"DELETE /api/v1/handlers/{name}": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/handlers/sink", want: 403}, {path: "/api/v1/handlers/nope", want: 404}}
	},
	"POST /api/v1/backfill": func(f *openAPIFixture) []apiCall {
		return []apiCall{{name: "no backfill", body: map[string]any{"connection": "svc", "since": "2026-01-01T00:00:00Z"}, want: 400},
			{name: "unknown", body: map[string]any{"connection": "nope", "since": "2026-01-01T00:00:00Z"}, want: 404}}
	},
	"POST /api/v1/connections/{type}/{name}/test": func(f *openAPIFixture) []apiCall {
		body := `{"type":"order.paid"}`
		return []apiCall{{path: "/api/v1/connections/internal/svc/test",
			body: map[string]any{"headers": map[string]string{"X-Token": "tok", "X-Nonce": "t1"}, "body": body}, want: 200},
			{path: "/api/v1/connections/internal/nope/test", body: map[string]any{"body": body}, want: 404}}
	},
	"POST /api/v1/handlers/{name}/reset": func(f *openAPIFixture) []apiCall {
		return []apiCall{{path: "/api/v1/handlers/sink/reset", want: 200},
			{path: "/api/v1/handlers/nope/reset", want: 404}}
	},
	"POST /api/v1/secrets/rotate-key": func(f *openAPIFixture) []apiCall { return []apiCall{{want: 200}} },
}

// openAPIFixture is a gateway with realistic data: file and run-time
// connections, receipts in several states, attempts, secrets.
type openAPIFixture struct {
	*testGateway
	receipts map[string]string // kind → receipt id
}

const openAPIToken = "adm-token"

func newOpenAPIFixture(t *testing.T) *openAPIFixture {
	s := newSink(t, 500, 200)
	tg := newTestGateway(t, fmt.Sprintf(`
admin: {token: %s}
signing_secret: %s
allowed_destinations: ["127.0.0.0/8"]
handlers:
  - {name: sink, type: http, url: %q, timeout: 2s}
  - {name: audit, type: log}
connections:
  - {type: internal, name: svc, auth: secret, signature_header: X-Token, signing_secrets: [tok, tok-b], nonce_header: X-Nonce,
     event_type: "body:type", retry: {max_attempts: 3, initial_interval: 1s}, routes: [{events: ["order.*"], handlers: [sink, audit]}]}
`, openAPIToken, hookgateSecret, s.srv.URL+"/hook"))
	f := &openAPIFixture{testGateway: tg, receipts: map[string]string{}}
	f.mustAPI("POST", "/api/v1/connections", map[string]any{"type": "internal", "name": "rt", "auth": "secret",
		"signature_header": "X-Token", "signing_secret": "rt-token", "nonce_header": "X-Nonce", "event_type": "body:type",
		"routes": []any{map[string]any{"handlers": []string{"audit"}}}}, 201)
	f.mustAPI("POST", "/api/v1/connections", map[string]any{"type": "internal", "name": "lone", "auth": "secret",
		"signature_header": "X-Token", "signing_secret": "lone-token"}, 201)
	f.mustAPI("POST", "/api/v1/connections", map[string]any{"type": "github", "name": "hub", "signing_secret": "gh-secret",
		"verify_token": "vt"}, 201)

	send := func(kind, conn, token, nonce, body string) {
		st, b := tg.post("/webhooks/internal/"+conn, http.Header{"X-Token": {token}, "X-Nonce": {nonce}}, []byte(body))
		if st >= 500 {
			t.Fatalf("%s: ingest = %d %s", kind, st, b)
		}
		if kind == "" {
			return
		}
		taken := map[string]bool{}
		for _, id := range f.receipts {
			taken[id] = true
		}
		for _, r := range tg.receipts(conn) {
			if (r.Nonce == nonce || r.Status == hookgate.StatusRejected) && !taken[r.ID] {
				f.receipts[kind] = r.ID
				return
			}
		}
	}
	send("acknowledged", "svc", "tok", "n-1", `{"type":"order.created","n":1}`)
	send("", "svc", "tok", "n-1", `{"type":"order.created","n":1}`)
	send("filtered", "svc", "tok", "n-2", `{"type":"ping"}`)
	send("binary", "svc", "tok", "n-3", "{\"type\":\"order.bin\",\"b\":\"\xff\"}")
	send("rejected", "svc", "wrong", "n-4", `{"type":"order.created"}`)
	// Signed with a secret the connection learns only later: admit passes.
	ghBody := []byte(`{"zen":"admit me"}`)
	if st, b := tg.post("/webhooks/github/hub", githubHeaders("new-gh-secret", ghBody), ghBody); st != 401 {
		t.Fatalf("github delivery with an unknown secret = %d %s", st, b)
	}
	f.receipts["admittable"] = tg.receipts("hub")[0].ID
	tg.drain()              // the first attempt of acknowledged fails with 500…
	tg.clock.Add(time.Hour) // …and its retry is due later
	tg.drain()
	f.mustAPI("POST", "/api/v1/connections/github/hub/secrets", map[string]any{"secret": "new-gh-secret"}, 201)
	for _, r := range tg.receipts("svc") {
		if r.Status == hookgate.StatusDuplicate {
			f.receipts["duplicate"] = r.ID
		}
	}
	for _, kind := range []string{"acknowledged", "duplicate", "filtered", "binary", "rejected", "admittable"} {
		if f.receipts[kind] == "" {
			t.Fatalf("fixture has no %s receipt", kind)
		}
	}
	if got := tg.receipt(f.receipts["acknowledged"]); got.Status != hookgate.StatusAcknowledged || len(got.Attempts) < 2 {
		t.Fatalf("acknowledged receipt: %s with %d attempts, want a failed then a good attempt", got.Status, len(got.Attempts))
	}
	if got := tg.receipt(f.receipts["rejected"]); len(got.Trace) == 0 {
		t.Fatal("the rejected receipt has no trace")
	}
	// A receipt replayed once: a second round of attempts.
	f.mustAPI("POST", "/api/v1/receipts/"+f.receipts["binary"]+"/replay", nil, 202)
	tg.drain()
	f.receipts["replayed"] = f.receipts["binary"]
	return f
}

func (f *openAPIFixture) request(method, path string, body any) *http.Request {
	var r io.Reader = http.NoBody
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.admin.URL+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+openAPIToken)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func (f *openAPIFixture) mustAPI(method, path string, body any, want int) {
	f.t.Helper()
	if st, b := do(f.t, f.request(method, path, body)); st != want {
		f.t.Fatalf("%s %s = %d %s, want %d", method, path, st, b, want)
	}
}

// loadOpenAPI fetches the document the admin listener serves and checks it
// is a valid OpenAPI document.
func loadOpenAPI(t *testing.T, f *openAPIFixture) *openapi3.T {
	st, b := do(t, f.request("GET", "/api/openapi.json", nil))
	if st != 200 {
		t.Fatalf("GET /api/openapi.json = %d", st)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	return doc
}

// documentedRoutes is every "METHOD path" the document names.
func documentedRoutes(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// servedRoutes is every "METHOD pattern" the admin mux registers.
func servedRoutes(g *Gateway) []string {
	var out []string
	for _, r := range (&admin.API{GW: g}).RouteTable() {
		out = append(out, r.Method+" "+r.Pattern)
	}
	slices.Sort(out)
	return out
}

// missing is what is in want but not in have.
func missing(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

// TestOpenAPIRoutesMatchTheMux: the document names exactly the routes the
// admin mux serves, and every route has an entry in openAPIExercises.
func TestOpenAPIRoutesMatchTheMux(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "")
	f := &openAPIFixture{testGateway: tg}
	doc := loadOpenAPI(t, f)
	served, documented := servedRoutes(tg.Gateway), documentedRoutes(doc)
	for _, r := range missing(served, documented) {
		t.Errorf("route %s is served but missing from admin/openapi.json", r)
	}
	for _, r := range missing(documented, served) {
		t.Errorf("admin/openapi.json names %s, which the admin API does not serve (admin.API.RouteTable)", r)
	}
	var exercised []string
	for r := range openAPIExercises {
		exercised = append(exercised, r)
	}
	for _, r := range missing(served, exercised) {
		t.Errorf("route %s has no entry in openAPIExercises (gateway/openapi_test.go): say how to exercise it", r)
	}
	for _, r := range missing(exercised, served) {
		t.Errorf("openAPIExercises has %s, which the admin API does not serve", r)
	}
	// Every answer with a body has a schema: kin-openapi accepts any body for
	// a response without content.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, resp := range op.Responses.Map() {
				if code == "204" {
					continue
				}
				if resp.Value == nil || len(resp.Value.Content) == 0 {
					t.Errorf("%s %s answer %s has no content schema", method, path, code)
				}
				for ct, mt := range resp.Value.Content {
					if mt.Schema == nil {
						t.Errorf("%s %s answer %s %s has no schema", method, path, code, ct)
					}
				}
			}
		}
	}
}

// TestOpenAPIAnswersConform drives a real gateway through every admin
// route and validates each request and answer (status, content type,
// body) against the served document with kin-openapi.
func TestOpenAPIAnswersConform(t *testing.T) {
	t.Parallel()
	f := newOpenAPIFixture(t)
	doc := loadOpenAPI(t, f)
	covered := map[string][]int{}
	check := func(t *testing.T, route string, call apiCall, req *http.Request, validateRequest bool) {
		t.Helper()
		method, pattern, _ := strings.Cut(route, " ")
		item := doc.Paths.Find(pattern)
		if item == nil || item.GetOperation(method) == nil {
			t.Fatalf("route %s is missing from admin/openapi.json", route)
		}
		var reqBody []byte
		if req.Body != nil {
			reqBody, _ = io.ReadAll(req.Body)
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatalf("%s %s: %v", method, req.URL.Path, err)
		}
		defer resp.Body.Close()
		var body []byte
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			// A stream does not end: read its first event, the comment.
			line := make([]byte, len(": connected\n"))
			_, _ = io.ReadFull(resp.Body, line)
			body = line
		} else {
			body, _ = io.ReadAll(resp.Body)
		}
		if resp.StatusCode != call.want {
			t.Fatalf("%s %s = %d %s, want %d", method, req.URL, resp.StatusCode, body, call.want)
		}
		covered[route] = append(covered[route], resp.StatusCode)
		if (resp.StatusCode == http.StatusNoContent) != (len(body) == 0) {
			t.Errorf("%s %s = %d with a body of %d bytes", method, req.URL, resp.StatusCode, len(body))
		}
		pathParams := map[string]string{}
		for _, name := range pathParamNames(pattern) {
			pathParams[name] = pathValue(pattern, req.URL.Path, name)
		}
		in := &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      &routers.Route{Spec: doc, Path: pattern, PathItem: item, Method: method, Operation: item.GetOperation(method)},
			Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true},
		}
		if validateRequest {
			req.Body = io.NopCloser(bytes.NewReader(reqBody))
			if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
				t.Errorf("%s %s: the request does not conform: %v", method, req.URL, err)
			}
		}
		ct := resp.Header.Get("Content-Type")
		mt, _, _ := mime.ParseMediaType(ct)
		if mt == "text/event-stream" {
			// kin-openapi has no decoder for a stream: check the type is
			// the one documented.
			r := item.GetOperation(method).Responses.Status(resp.StatusCode)
			if r == nil || r.Value.Content.Get(mt) == nil {
				t.Errorf("%s %s answers %d %s, not in the document", method, req.URL, resp.StatusCode, ct)
			}
			return
		}
		err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options,
		})
		if err != nil {
			t.Errorf("%s %s answered %d %s\nwhich does not conform to admin/openapi.json: %v", method, req.URL, resp.StatusCode, clipBody(body), err)
		}
	}
	// The order matters: secrets are added before they are retired,
	// connections read before they are deleted.
	routes := servedRoutes(f.Gateway)
	slices.SortStableFunc(routes, func(a, b string) int { return routeOrder(a) - routeOrder(b) })
	for _, route := range routes {
		exercise, ok := openAPIExercises[route]
		if !ok {
			t.Errorf("route %s has no entry in openAPIExercises (gateway/openapi_test.go)", route)
			continue
		}
		method, pattern, _ := strings.Cut(route, " ")
		for _, call := range exercise(f) {
			if call.path == "" {
				call.path = pattern
			}
			call.method = method
			t.Run(route+" "+call.name+" "+fmt.Sprint(call.want), func(t *testing.T) {
				check(t, route, call, f.request(method, call.path, call.body), call.want < 400)
			})
		}
		// The guard's answers, for every route.
		concrete := concretePath(pattern)
		guard := []struct {
			name string
			want int
			edit func(*http.Request)
		}{
			{"bad host", 403, func(r *http.Request) { r.Host = "evil.example" }},
			{"cross origin", 403, func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }},
			{"bad query", 400, func(r *http.Request) { r.URL.RawQuery = "a=%zz" }},
		}
		if pattern != "/healthz" && pattern != "/readyz" {
			guard = append(guard, struct {
				name string
				want int
				edit func(*http.Request)
			}{"no token", 401, func(r *http.Request) { r.Header.Del("Authorization") }})
		}
		if method != http.MethodGet {
			guard = append(guard, struct {
				name string
				want int
				edit func(*http.Request)
			}{"form post", 415, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }})
		}
		for _, g := range guard {
			t.Run(route+" guard "+g.name, func(t *testing.T) {
				req := f.request(method, concrete, nil)
				g.edit(req)
				check(t, route, apiCall{want: g.want}, req, false)
			})
		}
	}
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		op := doc.Paths.Find(pattern).GetOperation(method)
		for code := range op.Responses.Map() {
			var c int
			fmt.Sscan(code, &c)
			if !slices.Contains(covered[route], c) {
				t.Logf("%s: documented answer %s not exercised", route, code)
			}
		}
	}
}

// routeOrder puts deletions last, so what they remove is exercised first.
func routeOrder(route string) int {
	if strings.HasPrefix(route, "DELETE ") {
		return 1
	}
	return 0
}

func pathParamNames(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

func pathValue(pattern, path, name string) string {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, seg := range ps {
		if seg == "{"+name+"}" && i < len(xs) {
			return xs[i]
		}
	}
	return ""
}

// concretePath fills a pattern's parameters with placeholder values.
func concretePath(pattern string) string {
	out := pattern
	for _, name := range pathParamNames(pattern) {
		out = strings.ReplaceAll(out, "{"+name+"}", "x")
	}
	return out
}

func clipBody(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
