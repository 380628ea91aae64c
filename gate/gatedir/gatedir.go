// Package gatedir is the layout of a gate's data directory, in one place:
// the names of its files, which every kido-gate command, the enrolment
// (gate/enrol) and kido-server -demo use, and the gate's credential file,
// written atomically and readable by its owner only.
package gatedir

import (
	"bytes"
	"encoding/json"
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
	// PinFile holds, between an accepted enrolment code and the replica
	// built from the first snapshot, what that snapshot must be signed by
	// and for (the server identity, the event, the gate): the code is
	// spent, so a download resumed later has nothing else to check it
	// against. The replica holds the same from then on and the file goes.
	PinFile = "pin"
)

// Pin is what a gate was enrolled with.
type Pin struct {
	Server string `json:"server"` // the server identity key, kidopub1…
	Event  uint32 `json:"event"`
	Gate   uint32 `json:"gate"`
}

// PinPath returns the path of the pin file in dir.
func PinPath(dir string) string { return filepath.Join(dir, PinFile) }

// WritePin stores p in dir, atomically.
func WritePin(dir string, p Pin) error {
	err := atomicfile.WriteFile(PinPath(dir), 0o600, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(p)
	})
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	return nil
}

// ReadPin returns the pin stored in dir. A directory without one gives an
// error wrapping fs.ErrNotExist.
func ReadPin(dir string) (Pin, error) {
	var p Pin
	b, err := os.ReadFile(PinPath(dir))
	if err != nil {
		return p, fmt.Errorf("pin: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("pin: %s: %w", PinPath(dir), err)
	}
	return p, nil
}

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
