"""SQL, one module per resource; routes never hold SQL."""
