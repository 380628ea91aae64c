package client

import (
	"context"
	"net/http"

	"kido.dev/kido/sync/wire"
)

// Health calls GET /v1/health, which needs no token.
func (c *Client) Health(ctx context.Context) (wire.Health, error) {
	var h wire.Health
	err := c.Do(ctx, http.MethodGet, "/v1/health", nil, nil, &h)
	return h, err
}
