"""HTTP plumbing shared by every cloud provider: one retry policy, one deadline and poll loop, secrets read once."""
