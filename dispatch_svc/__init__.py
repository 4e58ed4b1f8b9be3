"""dispatch_svc: Dispatches: routed PURs grouped into rider trips, with rider and vehicle recommendations."""
