"""The embedded default: local service processes, their set-up and supervision."""
