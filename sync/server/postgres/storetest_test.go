package postgres

import (
	"context"
	"testing"

	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStore runs the Store conformance suite on a real PostgreSQL server,
// each subtest on a new database.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) server.Store {
		s, err := Open(context.Background(), pgtest.DB(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
