package ingress

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
)

func TestClientAddr(t *testing.T) {
	t.Parallel()
	proxies, err := ParsePrefixes([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct peer", "203.0.113.5:4000", "", "203.0.113.5"},
		{"untrusted peer's XFF is ignored", "203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},
		{"trusted proxy", "10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},
		{"client cannot spoof through a proxy", "10.1.2.3:4000", "1.2.3.4, 198.51.100.1", "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:4000", "198.51.100.1, 192.0.2.7, 10.9.9.9", "198.51.100.1"},
		{"garbage falls back to the peer", "10.1.2.3:4000", "not-an-ip", "10.1.2.3"},
		{"ipv6 peer", "[2001:db8::1]:4000", "", "2001:db8::1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/webhooks/x/y", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := Proxies(proxies).ClientAddr(r); got != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	proxies, _ := ParsePrefixes([]string{"10.0.0.0/8"})
	r := httptest.NewRequest("POST", "http://internal:8080/webhooks/twilio/sms?a=1", nil)
	r.RemoteAddr = "10.0.0.2:1234"
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "hooks.example.com")
	if got := Proxies(proxies).PublicURL(r, nil, nil).String(); got != "https://hooks.example.com/webhooks/twilio/sms?a=1" {
		t.Errorf("via trusted proxy: %s", got)
	}
	r.RemoteAddr = "203.0.113.9:1234"
	if got := Proxies(proxies).PublicURL(r, nil, nil).String(); got != "http://internal:8080/webhooks/twilio/sms?a=1" {
		t.Errorf("forwarded headers from an untrusted peer must be ignored: %s", got)
	}
	base, _ := url.Parse("https://edge.example.com/hooks")
	if got := Proxies(proxies).PublicURL(r, nil, base).String(); got != "https://edge.example.com/hooks/webhooks/twilio/sms?a=1" {
		t.Errorf("public_base_url: %s", got)
	}
	conn, _ := url.Parse("https://sms.example.com/twilio")
	if got := Proxies(proxies).PublicURL(r, conn, base).String(); got != "https://sms.example.com/twilio?a=1" {
		t.Errorf("public_url: %s", got)
	}
}
