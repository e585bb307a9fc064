"""aiohttp web application: REST API, OpenAPI, auth."""
