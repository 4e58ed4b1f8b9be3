"""dispatch_svc's tables in PostgreSQL, one repository per aggregate: rows in and out of the domain
model, and the queries the use cases need. Reads for update lock rows (`FOR UPDATE`, in id order
so batches cannot deadlock); the unit of work also takes a transaction-scoped advisory lock per
(hub, route, date) before any change to that route's queue or dispatches."""
