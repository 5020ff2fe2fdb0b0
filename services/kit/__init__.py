"""The service kit: what the BFF and every microservice share, written once."""
