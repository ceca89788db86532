package deploytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1, written where a web
// server can read it, and the client that trusts it.
type testCert struct {
	CertFile, KeyFile string
	pool              *x509.CertPool
}

var certOnce struct {
	sync.Once
	c   *testCert
	err error
}

// loopbackCert returns the run's certificate, making it on first use.
func loopbackCert(tb testing.TB) *testCert {
	tb.Helper()
	certOnce.Do(func() { certOnce.c, certOnce.err = makeCert(filepath.Join(workDir, "tls")) })
	if certOnce.err != nil {
		tb.Fatal(certOnce.err)
	}
	return certOnce.c
}

func makeCert(dir string) (*testCert, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &testCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	// The web servers read the key after dropping to www-data; it protects
	// nothing but these tests.
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o644); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c.pool = x509.NewCertPool()
	c.pool.AddCert(cert)
	return c, nil
}

// httpClient returns a client that trusts the test certificate and keeps
// up to conns connections to each host.
func (c *testCert) httpClient(conns int) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: c.pool},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}
