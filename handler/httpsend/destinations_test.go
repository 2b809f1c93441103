package httpsend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDNS answers from a table that the test may change between lookups,
// as a rebinding attacker's name server does.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	lookups int
}

func (f *fakeDNS) set(host string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answers == nil {
		f.answers = map[string][]netip.Addr{}
	}
	f.answers[host] = nil
	for _, ip := range ips {
		f.answers[host] = append(f.answers[host], netip.MustParseAddr(ip))
	}
}

func (f *fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	ips, ok := f.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func mustDest(t *testing.T, entries ...string) *Destinations {
	t.Helper()
	d, err := ParseDestinations(entries)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParseDestinationsRefusesNonsense(t *testing.T) {
	for _, bad := range [][]string{{""}, {"10.0.0.0/33"}, {"http://x.example"}, {"*.example"}, {"a b"}} {
		if _, err := ParseDestinations(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckURL(t *testing.T) {
	d := mustDest(t, "10.0.0.0/8", "Hooks.Internal.Example", "192.168.1.7", "fd00::/8")
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://10.1.2.3:9000/hook", true},
		{"https://hooks.internal.example/x", true},
		{"https://HOOKS.internal.example./x", true},
		{"http://192.168.1.7/", true},
		{"http://[fd00::1]:8080/", true},
		{"http://[::ffff:10.0.0.1]/", true},
		{"http://192.168.1.8/", false},
		{"http://127.0.0.1:8081/api/v1/connections", false},
		{"http://169.254.169.254/latest/meta-data/", false},
		{"http://other.example/", false},
		{"http://10.0.0.1.nip.io/", false}, // a name is never admitted by a network
		{"ftp://10.0.0.1/", false},
		{"/relative", false},
	} {
		err := d.CheckURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%s) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
	if err := mustDest(t).CheckURL("http://10.0.0.1/"); err == nil || !strings.Contains(err.Error(), "allowed_destinations is empty") {
		t.Errorf("empty list: %v", err)
	}
}

// serveOn starts a server on a loopback address and returns its port.
func serveOn(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func guardedSend(t *testing.T, d *Destinations, dns Resolver, url string) (int, bool, error) {
	t.Helper()
	s, err := New(url, nil, "", NewGuardedClient(func() *Destinations { return d }, dns, 2), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return s.Send(context.Background(), receipt())
}

// TestRebindingRefusedAtConnect: a listed name whose DNS answer turns to
// loopback, and a name that resolves to loopback while only 10.0.0.0/8 is
// allowed, are refused when connecting, and the attempt is final.
func TestRebindingRefusedAtConnect(t *testing.T) {
	var hits atomic.Int32
	port := serveOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	dns := &fakeDNS{}
	dns.set("hooks.internal.example", "127.0.0.1")
	dns.set("rebind.attacker.example", "127.0.0.1")

	d := mustDest(t, "10.0.0.0/8", "hooks.internal.example")
	for _, host := range []string{"hooks.internal.example", "rebind.attacker.example", "127.0.0.1"} {
		code, retry, err := guardedSend(t, d, dns, "http://"+host+":"+port+"/hook")
		if !errors.Is(err, ErrForbiddenDestination) || retry || code != 0 {
			t.Errorf("%s: code %d retry %v err %v; want refused, not retried", host, code, retry, err)
		}
		if err != nil && !strings.Contains(err.Error(), "allowed_destinations") {
			t.Errorf("%s: error %q does not say why", host, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the destination was reached %d times", hits.Load())
	}
	// The same name, allowed while it resolves inside the list.
	d = mustDest(t, "127.0.0.1/32", "hooks.internal.example")
	if code, _, err := guardedSend(t, d, dns, "http://hooks.internal.example:"+port+"/hook"); err != nil || code != 200 || hits.Load() != 1 {
		t.Fatalf("allowed target: code %d err %v hits %d", code, err, hits.Load())
	}
}

// TestRedirectToForbiddenAddressRefused: a destination inside the list
// that redirects to an address outside it does not get the request there.
func TestRedirectToForbiddenAddressRefused(t *testing.T) {
	var forbiddenHits atomic.Int32
	forbidden := serveOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { forbiddenHits.Add(1) }))
	allowed := serveOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://127.0.0.2:%s/steal", forbidden), http.StatusTemporaryRedirect)
	}))
	// 127.0.0.2 is loopback too: the forbidden server must listen there
	// for the refusal to be the policy's and not a closed port.
	ln, err := net.Listen("tcp", "127.0.0.2:"+forbidden)
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { forbiddenHits.Add(1) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	d := mustDest(t, "127.0.0.1/32")
	code, retry, err := guardedSend(t, d, nil, "http://127.0.0.1:"+allowed+"/hook")
	if !errors.Is(err, ErrForbiddenDestination) || retry || code != 0 {
		t.Fatalf("redirect: code %d retry %v err %v; want refused", code, retry, err)
	}
	if forbiddenHits.Load() != 0 {
		t.Fatalf("the forbidden address got %d requests", forbiddenHits.Load())
	}
	// With the redirect's target listed, the same request arrives.
	d = mustDest(t, "127.0.0.1/32", "127.0.0.2/32")
	if code, _, err := guardedSend(t, d, nil, "http://127.0.0.1:"+allowed+"/hook"); err != nil || code != 200 || forbiddenHits.Load() != 1 {
		t.Fatalf("listed redirect: code %d err %v hits %d", code, err, forbiddenHits.Load())
	}
}

// TestGuardedClientIgnoresProxy: a proxy from the environment would be the
// address dialled instead of the destination's.
func TestGuardedClientIgnoresProxy(t *testing.T) {
	c := NewGuardedClient(func() *Destinations { return nil }, nil, 2)
	if c.Transport.(*http.Transport).Proxy != nil {
		t.Fatal("guarded client uses a proxy")
	}
}

// BenchmarkSend compares a delivery through the client of file handlers
// with one through the guarded client of run-time handlers. Connections are
// kept alive, so the check runs once per connection, not per delivery.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	d, _ := ParseDestinations([]string{"127.0.0.0/8"})
	for _, c := range []struct {
		name   string
		client *http.Client
	}{
		{"plain", &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}},
		{"guarded", NewGuardedClient(func() *Destinations { return d }, nil, 2)},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := New(srv.URL+"/hook", nil, "", c.client, func() time.Time { return now })
			r := receipt()
			for b.Loop() {
				if _, _, err := s.Send(context.Background(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDialCheck is the check of one new connection to a name.
func BenchmarkDialCheck(b *testing.B) {
	d, _ := ParseDestinations([]string{"10.0.0.0/8", "192.168.0.0/16", "hooks.internal.example"})
	ip := netip.MustParseAddr("192.168.4.20")
	for b.Loop() {
		if !d.allows("hooks.internal.example", ip) {
			b.Fatal("refused")
		}
	}
}
