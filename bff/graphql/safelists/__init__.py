"""Per app version safelists of GraphQL documents ("trusted documents")."""
