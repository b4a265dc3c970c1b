"""Web pages: server-rendered templates with little or no JavaScript."""
