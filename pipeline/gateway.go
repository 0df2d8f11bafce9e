package pipeline

import "fmt"

// HostGateway is the service that carries the stack's host-facing ports.
const HostGateway = "gateway"

// SocatImage is the helper image of the gateway.
const SocatImage = "alpine/socat:1.8.0.3"

// Gateway forwards the host-facing ports to their services
// (init/forward.sh), so that one service carries the whole stack's ports
// to `dagger call up up`; it needs every long-running service, so starting
// it starts the stack. Container-side ports equal the configured host ports.
func Gateway(c Config, flower bool) Spec {
	type fwd struct {
		port int
		host string
		to   int
	}
	fwds := []fwd{{c.AirflowAPIPort, HostAPIServer, PortAPIServer}, {c.PostgresPort, HostPostgres, PortPostgres},
		{c.LivePort, HostLive, PortLive}}
	if flower {
		fwds = append(fwds, fwd{c.FlowerPort, HostFlower, PortFlower})
	}
	s := Spec{Name: HostGateway, Kind: Service, Image: SocatImage, Args: []string{"sh", forwardScript}}
	for _, f := range fwds {
		s.Args = append(s.Args, fmt.Sprintf("%d:%s:%d", f.port, f.host, f.to))
		s.Ports = append(s.Ports, f.port)
	}
	return s
}
