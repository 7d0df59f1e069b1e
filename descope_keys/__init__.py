"""descope-keys: a typed, async-first SDK for Descope access keys."""
