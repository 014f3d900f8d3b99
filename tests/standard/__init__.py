"""The 95598 standard as tests: one module per rule family, each test named like its rule."""
