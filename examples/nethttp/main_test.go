//go:build !windows

package main

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestRoutes serves the handler through each listener the -server flag
// offers and checks both routes.
func TestRoutes(t *testing.T) {
	for _, server := range []string{"netconn", "net"} {
		t.Run(server, func(t *testing.T) {
			ln, err := listen(server, "auto", false, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: handler()}
			go srv.Serve(ln)
			defer srv.Close()
			client := &http.Client{Timeout: 10 * time.Second}
			for _, route := range []struct{ path, contentType, body string }{
				{"/plaintext", "text/plain", "Hello, World!"},
				{"/json", "application/json", `{"message":"Hello, World!"}`},
			} {
				resp, err := client.Get("http://" + ln.Addr().String() + route.path)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != route.body || resp.Header.Get("Content-Type") != route.contentType {
					t.Fatalf("GET %s = %d %q %q, %v", route.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
				}
			}
			if _, err := listen("bogus", "auto", false, "127.0.0.1:0"); err == nil {
				t.Fatal("an unknown -server was accepted")
			}
		})
	}
}
