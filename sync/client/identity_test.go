package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server/servertest"
	"kido.dev/kido/sync/wire"
)

func TestProveIdentity(t *testing.T) {
	s, other := servertest.Start(t), servertest.Start(t)
	ctx := context.Background()
	// The server proves its own identity, and the client's token stays
	// home however the client was made.
	h := s.Core.Handler()
	var sawToken bool
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawToken = sawToken || r.Header.Get("Authorization") != ""
		h.ServeHTTP(w, r)
	}))
	defer hs.Close()
	c, err := client.New(hs.URL, "kido_secret_credential", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ProveIdentity(ctx, s.Info.ID)
	if err != nil || got != s.Info {
		t.Errorf("own identity: %+v, %v; want %+v", got, err, s.Info)
	}
	if sawToken {
		t.Error("ProveIdentity sent the client's token")
	}
	// Pinned to another server: refused, naming both.
	_, err = c.ProveIdentity(ctx, other.Info.ID)
	if !errors.Is(err, client.ErrForbidden) || !strings.Contains(err.Error(), s.Info.Fingerprint) || !strings.Contains(err.Error(), other.Info.Fingerprint) {
		t.Errorf("other identity: got %v, want ErrForbidden naming both fingerprints", err)
	}
}

// TestIdentityNonce: the server signs only a nonce of 16 to 128
// characters.
func TestIdentityNonce(t *testing.T) {
	s := servertest.Start(t)
	for _, n := range []string{"", "short", strings.Repeat("x", 129)} {
		err := s.Admin.Do(context.Background(), http.MethodPost, "/v1/identity", nil, wire.IdentityRequest{Nonce: n}, &wire.IdentityProof{})
		if !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("nonce of %d characters: got %v, want ErrBadRequest", len(n), err)
		}
	}
}
