"""routing_svc: Route maps of each hub and the H3 index that assigns a location to its route."""
