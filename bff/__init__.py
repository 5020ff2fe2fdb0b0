"""The Tern BFF: the one API phones talk to (compact REST and GraphQL) over the services."""
