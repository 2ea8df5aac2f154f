package httpbench

import "testing"

// wrkOutput is what wrk 4.1 prints with --latency, errors included.
const wrkOutput = `Running 2s test @ http://127.0.0.1:18080/plaintext
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.16ms    5.13ms  68.40ms   96.78%
    Req/Sec    27.61k    10.30k   50.55k    63.16%
  Latency Distribution
     50%  812.00us
     75%    4.00ms
     90%    5.51ms
     99%   26.19ms
  54491 requests in 2.00s, 6.81MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  27229.08
Transfer/sec:      3.40MB
`

func TestParseWrk(t *testing.T) {
	res, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 54491 || res.Seconds != 2 || res.ReqPerSec != 27229.08 || res.P50us != 812 || res.P99us != 26190 || res.Errors != 7 {
		t.Fatalf("%+v", res)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Fatal("no error for a failed run")
	}
}
