package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/sync/wire"
)

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		status     int
		body       string
		retryAfter string
		want       error
		wantMsg    string
		wantHint   string
		wantRetry  time.Duration
	}{
		{401, `{"error":"server: unknown token","code":"unauthorized","hint":"check the token"}`, "", ErrUnauthorized, "server: unknown token", "check the token", 0},
		{401, ``, "", ErrUnauthorized, "401 Unauthorized", "KIDO_TOKEN", 0},
		{403, `{"error":"server: token may not manage event 3","code":"forbidden"}`, "", ErrForbidden, "event 3", "scope", 0},
		{404, `{"error":"server: event 9 not found","code":"not_found"}`, "", ErrNotFound, "event 9 not found", "", 0},
		{409, `{"error":"server: batch b1 reused with other content"}`, "", ErrConflict, "batch b1", "", 0},
		{429, `{"error":"server: too many requests"}`, "7", ErrUnavailable, "too many", "retry", 7 * time.Second},
		{503, `not json`, "2", ErrUnavailable, "503 Service Unavailable", "retry", 2 * time.Second},
		{400, `{"error":"server: bad tier name","hint":"use letters"}`, "", ErrBadRequest, "bad tier name", "use letters", 0},
		{422, `{"error":"server: nope\nsecond line"}`, "", ErrBadRequest, "server: nope", "", 0},
		{500, `{"error":"server: internal error"}`, "", ErrServer, "internal error", "server's log", 0},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.retryAfter != "" {
				w.Header().Set("Retry-After", tt.retryAfter)
			}
			w.WriteHeader(tt.status)
			w.Write([]byte(tt.body))
		}))
		c, err := New(srv.URL, "tok", srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		err = c.Do(context.Background(), http.MethodGet, "/v1/x", nil, nil, nil)
		srv.Close()
		if !errors.Is(err, tt.want) {
			t.Errorf("status %d: got %v, want %v", tt.status, err, tt.want)
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("status %d: %T is not *Error", tt.status, err)
		}
		if ce.Status != tt.status || !strings.Contains(ce.Message, tt.wantMsg) || strings.Contains(ce.Message, "\n") {
			t.Errorf("status %d: got status %d message %q, want one line containing %q", tt.status, ce.Status, ce.Message, tt.wantMsg)
		}
		if !strings.Contains(ce.Hint, tt.wantHint) || (tt.wantHint == "" && ce.Hint != "") {
			t.Errorf("status %d: hint %q, want %q", tt.status, ce.Hint, tt.wantHint)
		}
		if ce.RetryAfter != tt.wantRetry {
			t.Errorf("status %d: retry after %v, want %v", tt.status, ce.RetryAfter, tt.wantRetry)
		}
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2027, 8, 1, 10, 0, 0, 0, time.UTC)
	if got := parseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now); got != 30*time.Second {
		t.Errorf("got %v, want 30s", got)
	}
	for _, v := range []string{"", "-1", "soon", now.Add(-time.Minute).Format(http.TimeFormat)} {
		if got := parseRetryAfter(v, now); got != 0 {
			t.Errorf("%q: got %v, want 0", v, got)
		}
	}
}

func TestUnreachable(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New("http://"+addr, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot reach server at http://"+addr) || !strings.Contains(msg, "\nhint: ") {
		t.Errorf("message %q lacks the address or a hint", msg)
	}
}

func TestContextCanceledIsNotUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, _ := New(srv.URL, "", srv.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Do(ctx, http.MethodGet, "/v1/health", nil, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8700", "ftp://x", "http://"} {
		if _, err := New(u, "", nil); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "hint:") {
			t.Errorf("New(%q): got %v, want ErrBadRequest with a hint", u, err)
		}
	}
}

func TestDoSendsTokenAndJSON(t *testing.T) {
	type req struct {
		Name string `json:"name"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/base/v1/things" || r.URL.Query().Get("event") != "4" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var in req
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(wire.Health{Status: in.Name})
	}))
	defer srv.Close()
	c, _ := New(srv.URL+"/base/", "s3cret", srv.Client())
	var out wire.Health
	err := c.Do(context.Background(), http.MethodPost, "/v1/things", map[string][]string{"event": {"4"}}, req{Name: "木戸"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != "木戸" {
		t.Errorf("got %q, want 木戸", out.Status)
	}
}

func TestUnknownFieldRejected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok","surprise":1}`))
	}))
	defer srv.Close()
	c, _ := New(srv.URL, "", srv.Client())
	if _, err := c.Health(context.Background()); !errors.Is(err, ErrServer) {
		t.Fatalf("got %v, want ErrServer", err)
	}
}
