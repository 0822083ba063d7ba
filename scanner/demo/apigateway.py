"""Demo/test builders for apigateway."""
