"""The main job's demo: a Bengaluru hub's route map and a simulated day of pickup requests.

`python -m demo` imports the shipped map into a running mesh, streams pickup requests through
pur_svc, follows them until routing_svc has routed them, and prints a per-route summary and a
picture of the hub. `python -m demo.city` regenerates the shipped map (deterministically).
"""
