package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"kido.dev/kido/internal/atomicfile"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/server"
)

// loadMasterKey reads the master key: 64 hex digits in a file readable by
// its owner only. The default file in the data directory is made on first
// start, but never for an existing database (db names it when there is
// one): a fresh key could not open its sealed keys.
func loadMasterKey(c config, db string, log *slog.Logger) ([]byte, error) {
	path := c.masterKey
	if path == "" {
		path = filepath.Join(c.data, "master.key")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if db != "" {
				return nil, fmt.Errorf("master key %s is missing but %s exists\nhint: restore master.key from backup (or copy it from another instance of this database), or give its path with -master-key", path, db)
			}
			key := make([]byte, server.MasterKeySize)
			if _, err := rand.Read(key); err != nil {
				return nil, fmt.Errorf("master key: %w", err)
			}
			if err := writeSecretFile(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
				return nil, err
			}
			log.Info("first start: master key written; back it up apart from the database", "file", path)
			return key, nil
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w\nhint: -master-key (or KIDO_MASTER_KEY) names the file holding the master key", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key %s is readable by others (mode %04o)\nhint: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != server.MasterKeySize {
		return nil, fmt.Errorf("master key %s is not %d hex digits", path, 2*server.MasterKeySize)
	}
	return key, nil
}

// writeSecretFile writes a file only its owner can read, atomically.
func writeSecretFile(path string, data []byte) error {
	return atomicfile.WriteFile(path, privfile.Mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
