"""What crosses a boundary: the event models every stage validates against, and the names (topics,
groups, databases, collections, roles, jobs) other parts rely on."""
