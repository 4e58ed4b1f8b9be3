"""pur_svc: Pickup requests (PURs): creation, queries and their status as they are routed and dispatched."""
