"""The agents' tools (MCP): ``tools`` does the work, ``server`` declares them,
``http`` serves them at ``/mcp/`` with the API token."""
