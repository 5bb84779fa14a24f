"""The embedded default: local service processes, their setup, migrations and supervision. Only
code that starts local processes imports this package."""
