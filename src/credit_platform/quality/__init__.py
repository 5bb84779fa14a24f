"""Data quality: Great Expectations checks, the data_quality_issues writer, and the fraud detection
report."""
