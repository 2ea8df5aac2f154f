package netconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHandler answers GET /plaintext, and POST /echo with the request body.
func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /plaintext", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// Read all first: an HTTP/1.x server may close the request body
		// once the response has started.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(body)
	})
	return mux
}

// serveHTTP serves testHandler on a listener of nw, through TLS when cert
// is not nil, and returns the base URL. The server is shut down at the
// test's end.
func serveHTTP(t *testing.T, nw *Network, cert *tls.Certificate) string {
	t.Helper()
	ln, err := nw.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	srv := &http.Server{Handler: testHandler(), ReadHeaderTimeout: 10 * time.Second}
	if cert != nil {
		scheme = "https"
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"h2", "http/1.1"}})
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
	})
	return scheme + "://" + ln.Addr().String()
}

// testCertificate makes a self-signed certificate for 127.0.0.1, valid
// for an hour.
func testCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "netconn test"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// clientFor returns an HTTP client that dials through dial (nil: the net
// package) and trusts roots.
func clientFor(dial func(ctx context.Context, network, address string) (net.Conn, error), roots *x509.CertPool) *http.Client {
	tr := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 16, ForceAttemptHTTP2: true}
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// exercise sends GETs and POSTs from several goroutines over keep-alive
// connections and checks every answer, and that it came in HTTP/wantMajor.
func exercise(t *testing.T, client *http.Client, base string, wantMajor int) {
	t.Helper()
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				resp, err := client.Get(base + "/plaintext")
				if err != nil {
					t.Errorf("GET: %v", err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != "Hello, World!" || resp.Header.Get("Content-Type") != "text/plain" {
					t.Errorf("GET /plaintext = %q, %v, %q", body, err, resp.Header.Get("Content-Type"))
					return
				}
				if resp.ProtoMajor != wantMajor {
					t.Errorf("answered in %s, want HTTP/%d", resp.Proto, wantMajor)
					return
				}
				if i%5 != 0 {
					continue
				}
				// A body larger than the socket buffers, both ways.
				payload := strings.Repeat(fmt.Sprintf("%d.%d ", g, i), 40000)
				resp, err = client.Post(base+"/echo", "text/plain", strings.NewReader(payload))
				if err != nil {
					t.Errorf("POST: %v", err)
					return
				}
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != payload {
					t.Errorf("POST /echo: %d bytes back of %d, %v", len(body), len(payload), err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestHTTP serves net/http through a netconn listener, plain and over
// crypto/tls, to the Go client dialing through the net package and
// through netconn (HTTP/2 over TLS, since the client and server offer it).
func TestHTTP(t *testing.T) {
	cert, roots := testCertificate(t)
	forEachBackend(t, func(t *testing.T, nw *Network) {
		plain := serveHTTP(t, nw, nil)
		secure := serveHTTP(t, nw, &cert)
		for _, dialer := range []struct {
			name string
			dial func(ctx context.Context, network, address string) (net.Conn, error)
		}{{"netDialer", (&net.Dialer{}).DialContext}, {"netconnDialer", nw.DialContext}} {
			t.Run(dialer.name+"/plain", func(t *testing.T) { exercise(t, clientFor(dialer.dial, nil), plain, 1) })
			t.Run(dialer.name+"/tls", func(t *testing.T) { exercise(t, clientFor(dialer.dial, roots), secure, 2) })
		}
	})
}

// TestCurl serves net/http through netconn to curl, plain and TLS (-k:
// the certificate is self-signed). Without curl it skips, except under
// CI=true.
func TestCurl(t *testing.T) {
	if runtime.GOOS == "windows" {
		// Under wine, CI's only Windows, the curl on the machine is a
		// Linux program, which a Windows test binary cannot start.
		t.Skip("curl runs against the Linux backends; the Go client tests (TestHTTP) cover Windows")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is missing (CI=true): apt-get install -y curl")
		}
		t.Skip("curl is missing: apt-get install -y curl to run this test")
	}
	cert, _ := testCertificate(t)
	forEachBackend(t, func(t *testing.T, nw *Network) {
		for _, base := range []string{serveHTTP(t, nw, nil), serveHTTP(t, nw, &cert)} {
			// Two URLs in one run: the second reuses the connection.
			url := base + "/plaintext"
			out, err := exec.Command(curl, "-sS", "-k", "--max-time", "20",
				"-w", " %{http_code} %{content_type} %{num_connects}\n", url, url).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", url, err, out)
			}
			want := "Hello, World! 200 text/plain 1\nHello, World! 200 text/plain 0\n"
			if string(out) != want {
				t.Fatalf("curl %s printed %q, want %q", url, out, want)
			}
		}
	})
}
