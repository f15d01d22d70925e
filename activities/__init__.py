"""Every side effect: running node bodies and ``@task`` functions as Temporal activities."""

from activities.nodes import NodeActivities

__all__ = ["NodeActivities"]
