"""DispatchPlan and the answers of PlanDispatches and CommitDispatchPlan as protobuf, and the
commit request from it."""

from __future__ import annotations

from dispatch_svc.adapters.messages import dispatch_to_proto
from dispatch_svc.domain.plans import CommitRequest, DispatchPlan, PlanTrip, TripChange
from dispatch_svc.service_layer.plans import Committed
from firstmile.dispatch.v1 import dispatch_pb2
from mesh.protobuf import timestamp


def trip_to_proto(trip: PlanTrip) -> dispatch_pb2.PlannedTrip:
    return dispatch_pb2.PlannedTrip(
        id=trip.id,
        route_id=trip.route_id,
        rider_id=trip.rider_id,
        vehicle_id=trip.vehicle_id,
        stops=[dispatch_pb2.PlannedStop(pur_id=s.pur_id, eta=timestamp(s.eta)) for s in trip.stops],
        distance_m=round(trip.distance_m, 1),
        start_time=timestamp(trip.start),
        end_time=timestamp(trip.end),
        total_packages=trip.load.packages,
        total_weight_kg=round(trip.load.weight_kg, 6),
        reasons=list(trip.reasons),
    )


def plan_to_proto(plan: DispatchPlan) -> dispatch_pb2.DispatchPlan:
    return dispatch_pb2.DispatchPlan(
        id=plan.id,
        hub_id=plan.hub_id,
        pickup_date=plan.pickup_date.isoformat(),
        trips=[trip_to_proto(t) for t in plan.trips],
        unplanned=[dispatch_pb2.UnplannedPickup(pur_id=u.pur_id, reason=u.reason) for u in plan.unplanned],
        expires_at=timestamp(plan.expires_at),
        created_at=timestamp(plan.created_at),
        dispatch_ids=[plan.dispatch_ids[t.id] for t in plan.trips if t.id in plan.dispatch_ids],
        total_distance_m=round(plan.total_distance_m, 1),
        arrival_order_distance_m=round(plan.arrival_order_distance_m, 1),
    )


def commit_request_from_proto(request: dispatch_pb2.CommitDispatchPlanRequest) -> CommitRequest:
    return CommitRequest(
        plan_id=request.plan_id,
        only_valid_trips=request.only_valid_trips,
        changes=tuple(
            TripChange(trip_id=c.trip_id, drop=c.drop, rider_id=c.rider_id, vehicle_id=c.vehicle_id)
            for c in request.changes
        ),
    )


def committed_to_proto(result: Committed) -> dispatch_pb2.CommitDispatchPlanResponse:
    return dispatch_pb2.CommitDispatchPlanResponse(
        dispatches=[dispatch_to_proto(d) for d in result.dispatches],
        skipped=[dispatch_pb2.SkippedTrip(trip_id=s.trip_id, reason=s.reason) for s in result.skipped],
    )
