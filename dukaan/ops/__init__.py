"""What operators watch: health (and, to come, logs and metrics)."""
