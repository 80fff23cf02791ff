package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzQuery sends arbitrary requests (method, path with query, body)
// through the whole router and its handlers, on the in-memory backend,
// and decodes the query's filters. Invariants: no panic; every request is
// answered, within a second of its context ending; a malformed request is
// a 4xx (the in-memory backend does not fail, so a 500 is the API's own
// fault); filters that decode re-encode to the same filters.
func FuzzQuery(f *testing.F) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		// A backend per request: what one creates does not pile up.
		s := New(newFakeBackend(), Options{Version: "test", Logger: logger})
		switch method {
		case "GET", "POST", "PUT", "DELETE", "HEAD":
		default:
			method = "GET"
		}
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		r, err := http.NewRequestWithContext(ctx, method, "http://d"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		r.RequestURI = target
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.ServeHTTP(w, r)
		}()
		select {
		case <-done:
		case <-time.After(time.Second + 100*time.Millisecond):
			t.Fatalf("%s %s: no answer a second after its context ended", method, target)
		}
		if w.Code < 100 || w.Code > 599 || w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s (%q): status %d: %s", method, target, body, w.Code, w.Body.String())
		}

		raw := r.URL.Query().Get("filters")
		filters, err := decodeFilters(raw)
		if err != nil {
			return
		}
		again, err := json.Marshal(filters)
		if err != nil {
			t.Fatalf("filters %v do not encode: %v", filters, err)
		}
		back, err := decodeFilters(string(again))
		if err != nil || (len(filters) > 0 || len(back) > 0) && !reflect.DeepEqual(filters, back) {
			t.Fatalf("filters %q decode to %v, which re-encode to %s and decode to %v (%v)", raw, filters, again, back, err)
		}
	})
}
