package mesh

import (
	"crypto/x509"
	"errors"
	"net/http"

	"kido.dev/kido/sync/wire"
)

// serveExchange answers one Exchange from a peer: the peer is checked
// again against the gate list (a kept-alive connection outlives a
// revocation), its records go to the Store, and the answer carries this
// gate's vector and what the peer lacks.
func (n *Node) serveExchange(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ExchangePath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST an exchange", http.StatusMethodNotAllowed)
		return
	}
	if r.TLS == nil {
		http.Error(w, "TLS only", http.StatusForbidden)
		return
	}
	ctx := r.Context()
	c, err := n.checkPeer(ctx, rawChain(r.TLS.PeerCertificates), 0)
	if errors.Is(err, ErrRefusedPeer) {
		n.log("mesh: refused an exchange from %s: %v", r.RemoteAddr, err)
		http.Error(w, "refused", http.StatusForbidden)
		return
	} else if err != nil {
		n.log("mesh: %v", err)
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	}
	x, err := DecodeExchange(r.Body, true)
	if err != nil {
		n.log("mesh: gate %d at %s: %v", c.gate, r.RemoteAddr, err)
		code := http.StatusBadRequest
		if errors.Is(err, wire.ErrTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), code)
		return
	}
	n.setKnown(c.gate, x.Vector)
	n.learn(ctx, c.gate, r.RemoteAddr, x.Records)
	mine, err := n.cfg.Store.MeshVector(ctx)
	if err != nil {
		n.log("mesh: read vector: %v", err)
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	}
	recs, more, err := n.lacking(ctx, vectorMap(x.Vector), mine, 0)
	if err != nil {
		n.log("%v", err)
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	}
	body, err := (&Exchange{Vector: VectorOf(mine), Records: recs, More: more}).encode(false)
	if err != nil {
		n.log("%v", err)
		http.Error(w, "try again later", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// rawChain returns the DER bytes of a parsed chain, for checkPeer.
func rawChain(certs []*x509.Certificate) [][]byte {
	raw := make([][]byte, len(certs))
	for i, c := range certs {
		raw[i] = c.Raw
	}
	return raw
}
