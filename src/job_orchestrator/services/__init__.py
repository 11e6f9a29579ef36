"""Application services: the operations the API exposes, on top of the store."""
