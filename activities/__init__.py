"""Every side effect: running node bodies and ``@task`` functions as Temporal activities."""

from tempograph.activities.nodes import NodeActivities

__all__ = ["NodeActivities"]
