"""The client side of the mesh, shared by the demo, the benchmarks and the fault suite.

- `tokens`: bearer tokens minted with this checkout's local signing key (.cache/secrets);
- `channels`: the services' endpoints, channels checked up and serving, failures in plain words;
- `stubs`: `MeshClients`, the four services' stubs over those channels;
- `requests`: builders of the requests the tools send (pickups, route maps, riders, vehicles,
  attendance, dispatches) and of the team leads' exceptions (manual queue and assignments, PUR
  history, dispatch reassignments and moves, the live board).

Command-line tools take their transport and token from the environment (FIRSTMILE_GRPC_*,
FIRSTMILE_AUTH_TOKEN or FIRSTMILE_AUTH_TOKEN_FILE; `bash infra/infra.sh env` sets them for a
local run), through `mesh.grpc_client`.
"""
