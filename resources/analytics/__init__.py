"""The analytics loop: each post's numbers over time, what performed, and what discovery learns from it."""
