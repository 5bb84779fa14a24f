"""The long-running fraud job on Flink: its submission and supervision, and a client for Flink's
REST API and CLI. Imports nothing of the local supervisor."""
