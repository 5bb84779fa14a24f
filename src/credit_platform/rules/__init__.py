"""The business rules, each stated once: lending (policy, risk level, decision) and fraud (the
stream's rules). Each module holds a rule's Python reference beside its engine twins (Spark
columns, Flink SQL, the vectorised reference)."""
