package wire

import "time"

// Health answers GET /v1/health, which needs no token.
type Health struct {
	Status     string    `json:"status"` // "ok"
	Server     Server    `json:"server"`
	ServerTime time.Time `json:"server_time"`
}
