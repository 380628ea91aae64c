package mesh

import (
	"net"
	"testing"
)

func TestAdvertised(t *testing.T) {
	tests := []struct {
		listen *net.TCPAddr
		server string
		want   string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8711}, "tickets.example.org", "127.0.0.1:8711"},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 20), Port: 9000}, "", "192.168.1.20:9000"},
		// Every interface: the address on the route to the server.
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8711}, "127.0.0.1:7000", "127.0.0.1:8711"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8711}, "127.0.0.1", "127.0.0.1:8711"},
	}
	for _, tt := range tests {
		if got := advertised(tt.listen, tt.server); got != tt.want {
			t.Errorf("advertised(%v, %q) = %q, want %q", tt.listen, tt.server, got, tt.want)
		}
	}
}
