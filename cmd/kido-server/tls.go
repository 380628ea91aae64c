package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

// certExpiry returns when the first certificate in a PEM file expires, so
// that health and the log can warn before it does.
func certExpiry(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("tls certificate: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return time.Time{}, fmt.Errorf("tls certificate %s holds no PEM CERTIFICATE block\nhint: -tls-cert takes the certificate (chain) in PEM", path)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return time.Time{}, fmt.Errorf("tls certificate %s: %w", path, err)
		}
		return c.NotAfter, nil
	}
}
