"""Data in: the labelled synthetic data generator, the validating Kafka producer, and the
exactly-once landing of Kafka into Parquet."""
