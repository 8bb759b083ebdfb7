"""Built-in middleware stages, one concept per module."""
