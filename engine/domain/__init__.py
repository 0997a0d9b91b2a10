"""The domain: what the approval rules say, free of HTTP and SQL."""
