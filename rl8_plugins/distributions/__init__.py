"""Built-in distributions plugins."""
