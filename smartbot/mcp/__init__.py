"""Model Context Protocol: SmartBot as an MCP client of tool servers, and as an MCP server of its own
capabilities at /mcp (the `server*` modules)."""
