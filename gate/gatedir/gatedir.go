// Package gatedir is the layout of a gate's data directory, in one place:
// the names of its files, which every kido-gate command, the enrolment
// (gate/enrol) and kido-server -demo use, and the gate's credential file,
// written atomically and readable by its owner only.
package gatedir

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"kido.dev/kido/internal/atomicfile"
)

// Files in a gate's data directory.
const (
	// ReplicaFile is the gate's SQLite replica (gate/replica), with its
	// -wal and -shm files beside it.
	ReplicaFile = "replica.db"
	// CredentialFile holds the gate's bearer credential, mode 0600:
	// anyone holding it can upload as this gate.
	CredentialFile = "credential"
)

// Replica returns the path of the replica in dir.
func Replica(dir string) string { return filepath.Join(dir, ReplicaFile) }

// Credential returns the path of the credential file in dir.
func Credential(dir string) string { return filepath.Join(dir, CredentialFile) }

// ReadCredential returns the gate's credential stored in dir. A directory
// without one gives an error wrapping fs.ErrNotExist.
func ReadCredential(dir string) (string, error) {
	b, err := os.ReadFile(Credential(dir))
	if err != nil {
		return "", fmt.Errorf("credential: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// WriteCredential stores cred in dir, replacing any credential there,
// atomically and readable by the owner only.
func WriteCredential(dir, cred string) error {
	err := atomicfile.WriteFile(Credential(dir), 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, cred+"\n")
		return err
	})
	if err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	return nil
}
