"""The Model Context Protocol: SmartBot as a client of MCP tool servers (jsonrpc, stdio,
http_transport, client, registry, tools, schema_check) and as an MCP server of its own capabilities
at /mcp (the `server*` modules).

The client side is a small synchronous JSON-RPC 2.0 implementation of the parts SmartBot uses; it
knows nothing of Flask, the router or permissions: the pipeline decides who may call what."""
