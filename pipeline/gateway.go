package pipeline

import "fmt"

// HostGateway is the service that carries the stack's host-facing ports.
const HostGateway = "gateway"

// SocatImage is the helper image of the gateway.
const SocatImage = "alpine/socat:1.8.0.3"

// Forward is one host-facing port of a gateway and the service port it
// relays to.
type Forward struct {
	Port int // on the host, and in the gateway
	Host string
	To   int
}

// Gateway forwards the stack's host-facing ports to their services
// (init/forward.sh), so that one service carries the whole stack's ports
// to `dagger call up up`; it needs every long-running service, so starting
// it starts the stack. Valkey is on the host only for remote workers
// (o.RemoteWorkers): with the option off, nothing else is reachable.
func Gateway(c Config, o Options) Spec {
	fwds := []Forward{{c.AirflowAPIPort, HostAPIServer, PortAPIServer}, {c.PostgresPort, HostPostgres, PortPostgres},
		{c.LivePort, HostLive, PortLive}}
	if o.Flower {
		fwds = append(fwds, Forward{c.FlowerPort, HostFlower, PortFlower})
	}
	if o.RemoteWorkers {
		fwds = append(fwds, Forward{c.ValkeyPort, HostValkey, PortValkey})
	}
	return gateway(fwds)
}

// gateway is a gateway service for fwds. Container-side ports equal the
// host ports.
func gateway(fwds []Forward) Spec {
	s := Spec{Name: HostGateway, Kind: Service, Image: SocatImage, Args: []string{"sh", forwardScript}}
	for _, f := range fwds {
		s.Args = append(s.Args, fmt.Sprintf("%d:%s:%d", f.Port, f.Host, f.To))
		s.Ports = append(s.Ports, f.Port)
	}
	return s
}
