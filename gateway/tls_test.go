package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/config"
)

// writeCert makes a self-signed certificate for 127.0.0.1 named cn and
// writes it and its key as PEM to certFile and keyFile. It returns the
// certificate, for the client's trust pool.
func writeCert(t *testing.T, cn, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// syncBuffer is a log sink the test reads while the gateway writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServeTLSReload serves the public listener over TLS, replaces the
// certificate files and reloads them as SIGHUP does: a new handshake gets
// the new certificate, a keep-alive connection made before keeps working,
// and a pair that does not load is refused with a log line while the
// previous one stays in force.
func TestServeTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	pool := x509.NewCertPool()
	pool.AddCert(writeCert(t, "first", certFile, keyFile))

	cfg, _, err := config.Parse([]byte("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\ntls: {cert_file: " + certFile + ", key_file: " + keyFile + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = sqliteURL(t)
	logs := &syncBuffer{}
	gw, ls := serveGateway(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	url := "https://" + ls.Public.Addr().String() + "/webhooks/github/none"

	client := func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	// get makes one request with c and reports the certificate the server
	// showed, the TLS version, and whether the connection was reused.
	get := func(c *http.Client) (cn string, version uint16, reused bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET over TLS: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName, resp.TLS.Version, reused
	}

	kept := client()
	if cn, v, _ := get(kept); cn != "first" || v < tls.VersionTLS12 {
		t.Fatalf("first handshake: certificate %q, version %x", cn, v)
	}
	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", ls.Public.Addr().String(), old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	pool.AddCert(writeCert(t, "second", certFile, keyFile))
	if err := gw.ReloadTLS(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if cn, _, reused := get(kept); cn != "first" || !reused {
		t.Fatalf("after reload the open connection: certificate %q, reused %v; want the first one, reused", cn, reused)
	}
	if cn, _, _ := get(client()); cn != "second" {
		t.Fatalf("a new handshake after reload got %q, want second", cn)
	}

	// A certificate whose key is not the one on disk: refused, and logged.
	otherDir := t.TempDir()
	writeCert(t, "third", filepath.Join(otherDir, "tls.crt"), filepath.Join(otherDir, "tls.key"))
	third, err := os.ReadFile(filepath.Join(otherDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, third, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gw.ReloadTLS(); err == nil {
		t.Fatal("a mismatched certificate and key reloaded without error")
	}
	if !strings.Contains(logs.String(), "TLS certificate not reloaded") {
		t.Fatalf("no log line for the refused pair:\n%s", logs)
	}
	if cn, _, _ := get(client()); cn != "second" {
		t.Fatalf("after a refused reload a new handshake got %q, want second", cn)
	}
	if cn, _, reused := get(kept); cn != "first" || !reused {
		t.Fatalf("the first connection: certificate %q, reused %v", cn, reused)
	}
}

// TestCheckTLSFiles: config check (and serve) load the pair, so a missing
// or broken file fails before anything binds.
func TestCheckTLSFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, "ok", certFile, keyFile)
	for _, tc := range []struct {
		tls     string
		wantErr string
	}{
		{"{cert_file: " + certFile + ", key_file: " + keyFile + "}", ""},
		{"{cert_file: " + filepath.Join(dir, "missing.crt") + ", key_file: " + keyFile + "}", "missing.crt"},
		{"{cert_file: " + keyFile + ", key_file: " + keyFile + "}", "tls"},
		{"{cert_file: " + certFile + "}", "key_file"},
	} {
		cfg, _, err := config.Parse([]byte("tls: " + tc.tls + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = Check(cfg)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("tls %s: Check = %v", tc.tls, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("tls %s: Check = %v, want an error naming %q", tc.tls, err, tc.wantErr)
		}
	}
}

// TestServerLogLevels: net/http's lines that anyone can cause go to debug
// level; others (a handler panic) stay errors.
func TestServerLogLevels(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	l := log.New(serverLog{slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))}, "", 0)
	l.Printf("http: TLS handshake error from 127.0.0.1:1234: EOF")
	l.Printf("http: URL query contains semicolon, which is no longer a supported separator")
	l.Printf("http: panic serving 127.0.0.1:1234: boom")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "level=DEBUG") || !strings.Contains(lines[1], "level=DEBUG") || !strings.Contains(lines[2], "level=ERROR") {
		t.Fatalf("levels:\n%s", out)
	}
}
