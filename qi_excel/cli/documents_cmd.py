"""Commands of this workflow step (filled in by its issue)."""
