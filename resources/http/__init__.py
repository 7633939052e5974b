"""HTTP plumbing shared by every cloud provider: one retry policy, one way to read secrets."""
