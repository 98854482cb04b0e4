"""Templates, style sheet and OpenAPI document of the node's web pages and API."""
