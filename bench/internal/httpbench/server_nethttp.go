package httpbench

import (
	"encoding/json"
	"net/http"
)

// serveNetHTTP is the idiomatic Go server: net/http with a ServeMux, a
// goroutine per connection, the JSON body encoded by encoding/json.Marshal
// per request (as TechEmpower's Go entries do).
func serveNetHTTP(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /plaintext", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(plaintextBody))
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, _ *http.Request) {
		body, err := json.Marshal(struct {
			Message string `json:"message"`
		}{jsonMessage})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	return http.ListenAndServe(addr, mux)
}
