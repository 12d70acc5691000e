"""The built-in web chat page at /chat."""
