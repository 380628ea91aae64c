package mesh

import (
	"net"
	"strconv"
)

// Advertised returns the address a gate reports to the server for its
// peers to dial (the heartbeat's mesh address): the listening address
// itself when it names a host, else, for a node listening on every
// interface, this machine's address on the route to serverHost (a host
// or host:port; a UDP "connection" picks the source address without
// sending anything). It returns "" when there is no such route, as in an
// outage, when nothing would be reported anyway.
func (n *Node) Advertised(serverHost string) string {
	return advertised(n.Addr(), serverHost)
}

func advertised(ln net.Addr, serverHost string) string {
	tcp, ok := ln.(*net.TCPAddr)
	if !ok {
		return ""
	}
	if !tcp.IP.IsUnspecified() {
		return tcp.String()
	}
	if _, _, err := net.SplitHostPort(serverHost); err != nil {
		serverHost = net.JoinHostPort(serverHost, "443")
	}
	c, err := net.Dial("udp", serverHost)
	if err != nil {
		return ""
	}
	defer c.Close()
	local, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok || local.IP.IsUnspecified() {
		return ""
	}
	return net.JoinHostPort(local.IP.String(), strconv.Itoa(tcp.Port))
}
