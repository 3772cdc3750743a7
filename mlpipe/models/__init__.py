"""The model registry: named, versioned, content-addressed models with movable aliases."""
