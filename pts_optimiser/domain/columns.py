"""The contract's output columns, for the writers (the checker keeps its own copy).

The checker does not import this: it reads the contract for itself, so a column dropped
here is caught by it rather than agreed with.
"""

from __future__ import annotations

ROSTER_COLUMNS = ("vehicle_id", "seq", "event", "journey_id", "patient_id", "lat", "lon", "label",
                  "arrival", "service_start", "departure", "km", "seats_used",
                  "wheelchairs_used", "stretchers_used")
UNASSIGNED_COLUMNS = ("journey_id", "patient_id", "reason")
UNASSIGNED_FIX = "fix"  # beside the contract's reason: what would let it be planned
