//go:build !windows

package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// curlPath finds curl, or skips the test, unless CI=true: there a missing
// curl fails it (CI installs it).
func curlPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("curl is needed and missing (CI=true): %v", err)
	}
	t.Skipf("curl not installed (%v): apt-get install -y curl", err)
	return ""
}

func TestCurl(t *testing.T) {
	bin := curlPath(t)
	dir := t.TempDir()
	body := make([]byte, 300000)
	for i := range body {
		body[i] = byte(i*7 + i/251)
	}
	bodyFile := filepath.Join(dir, "body")
	bigFile := filepath.Join(dir, "big")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bigFile, bytes.Repeat([]byte("x"), 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	curl := func(t *testing.T, args ...string) (stdout, stderr string) {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := exec.Command(bin, append([]string{"-sS", "--max-time", "10"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("curl %s: %v: %s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), errOut.String()
	}
	forEachBackend(t, clientLimits, func(t *testing.T, addr string) {
		base := "http://" + addr
		out, _ := curl(t, "-i", base+"/plaintext")
		if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.Contains(out, "\r\nContent-Type: text/plain\r\n") ||
			!strings.Contains(out, "\r\nContent-Length: 13\r\n") || !regexp.MustCompile(`\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n`).MatchString(out) ||
			!strings.HasSuffix(out, "\r\n\r\nHello, World!") {
			t.Fatalf("plaintext: %q", out)
		}
		if out, _ = curl(t, base+"/json"); out != `{"message":"Hello, World!"}` {
			t.Fatalf("json: %q", out)
		}

		// Two URLs in one curl: the second request reuses the connection.
		out, verbose := curl(t, "-v", base+"/plaintext", base+"/json")
		if out != `Hello, World!{"message":"Hello, World!"}` || !strings.Contains(verbose, "using existing connection") {
			t.Fatalf("keep-alive: %q\n%s", out, verbose)
		}

		// A chunked response, as sent (--raw) and decoded.
		out, _ = curl(t, "-i", "--raw", base+"/chunked?n=3")
		if !strings.Contains(out, "\r\nTransfer-Encoding: chunked\r\n") || !strings.HasSuffix(out, "\r\n\r\nd\r\nchunk 1 of 3\n\r\nd\r\nchunk 2 of 3\n\r\nd\r\nchunk 3 of 3\n\r\n0\r\n\r\n") {
			t.Fatalf("chunked raw: %q", out)
		}
		if out, _ = curl(t, base+"/chunked?n=3"); out != "chunk 1 of 3\nchunk 2 of 3\nchunk 3 of 3\n" {
			t.Fatalf("chunked: %q", out)
		}

		// Request bodies: with Content-Length and Expect: 100-continue, and
		// chunked.
		want := sha256.Sum256(body)
		out, _ = curl(t, "-H", "Expect: 100-continue", "--data-binary", "@"+bodyFile, base+"/echo")
		if sha256.Sum256([]byte(out)) != want {
			t.Fatalf("echo: %d bytes back of %d", len(out), len(body))
		}
		out, _ = curl(t, "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+bodyFile, base+"/echo")
		if sha256.Sum256([]byte(out)) != want {
			t.Fatalf("chunked echo: %d bytes back of %d", len(out), len(body))
		}

		// HTTP/1.0: the server closes after the response.
		out, _ = curl(t, "--http1.0", "-i", base+"/plaintext")
		if !strings.Contains(out, "\r\nConnection: close\r\n") || !strings.HasSuffix(out, "Hello, World!") {
			t.Fatalf("HTTP/1.0: %q", out)
		}

		// Status codes.
		for _, tc := range []struct {
			args []string
			code string
		}{
			{[]string{base + "/nowhere"}, "404"},
			{[]string{"-X", "DELETE", base + "/plaintext"}, "405"},
			{[]string{"-H", "Expect: 100-continue", "--data-binary", "@" + bigFile, base + "/echo"}, "413"},
			{[]string{"-H", "X-Big: " + strings.Repeat("b", defaultHeaderBytes), base + "/plaintext"}, "431"},
		} {
			out, _ = curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_code}"}, tc.args...)...)
			if out != tc.code {
				t.Fatalf("curl %s: status %s, want %s", strings.Join(tc.args[:len(tc.args)-1], " "), out, tc.code)
			}
		}
	})
}
