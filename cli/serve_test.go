package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects serve's log while the test reads it.
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

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs `hookgate serve --config` in this process with yaml (plus
// a temp SQLite file) until the test ends, and waits until the admin API
// on adminAddr answers.
func startServe(t *testing.T, yaml, adminAddr string) *syncBuffer {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "hookgate.yaml")
	yaml += fmt.Sprintf("storage: {url: %q}\n", "sqlite://"+filepath.Join(dir, "hookgate.db"))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"serve", "--config", path}, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30 s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + adminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return logs
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d:\n%s", code, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer on %s within 20 s:\n%s", adminAddr, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeAdminTokenFromEnv: serve --help promises HOOKGATE_ADMIN_TOKEN;
// with it set, the admin API needs that token, over the file's.
func TestServeAdminTokenFromEnv(t *testing.T) {
	t.Setenv("HOOKGATE_ADMIN_TOKEN", "env-token")
	adminAddr := freeAddr(t)
	startServe(t, fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: %q, token: file-token}\n", adminAddr), adminAddr)
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "Bearer file-token": 401, "Bearer env-token": 200} {
		req, _ := http.NewRequest("GET", "http://"+adminAddr+"/api/v1/connections", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q answered %d, want %d", auth, resp.StatusCode, want)
		}
	}
	// The CLI reads the same variable.
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"connections", "list", "--admin-url", "http://" + adminAddr}, &out, &errOut); code != 0 {
		t.Fatalf("connections list with HOOKGATE_ADMIN_TOKEN exited %d: %s", code, errOut.String())
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 named cn.
func writeCert(t *testing.T, cn, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
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
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestServeReloadsTLSOnSIGHUP sends this process SIGHUP while serve runs
// with TLS: new handshakes get the certificate now on disk.
func TestServeReloadsTLSOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	pool := x509.NewCertPool()
	pool.AddCert(writeCert(t, "before-hup", certFile, keyFile))
	listen, adminAddr := freeAddr(t), freeAddr(t)
	startServe(t, fmt.Sprintf("listen: %q\nadmin: {listen: %q}\ntls: {cert_file: %q, key_file: %q}\n", listen, adminAddr, certFile, keyFile), adminAddr)

	served := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "before-hup" {
		t.Fatalf("serving %q", cn)
	}
	pool.AddCert(writeCert(t, "after-hup", certFile, keyFile))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The signal is handled asynchronously: wait for it, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for served() != "after-hup" {
		if time.Now().After(deadline) {
			t.Fatal("10 s after SIGHUP new handshakes still get the old certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
